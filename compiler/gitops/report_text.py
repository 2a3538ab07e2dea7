"""The text report of `modelkiln diff`: plain ASCII apart from the diffs, for terminals and
CI logs."""

from __future__ import annotations

from compiler.gitops.compare import Changes, EnvDelta, Report
from compiler.gitops.gate import GATE
from compiler.gitops.llm_report import pair_lines
from compiler.gitops.report_parts import (
    cost_line,
    envs_note,
    gpu_line,
    grouped_changes,
    show_value,
)


def _environment(delta: EnvDelta) -> list[str]:
    what = f" ({delta.status})" if delta.status else ""
    out = [
        "",
        f"environment {delta.name}{what}",
        f"  GPUs: {gpu_line(delta, True)}",
        f"  est. monthly cost: {cost_line(delta, True)}",
    ]
    for label, models in (
        ("added", delta.added),
        ("removed", delta.removed),
        ("changed", delta.changed),
    ):
        if models:
            out.append(f"  models {label}: {', '.join(models)}")
    if not (delta.added or delta.removed or delta.changed):
        out.append("  no model changes")
    return out


def _changed_model(model: str, per_env: dict[str, Changes]) -> list[str]:
    every = list(per_env)
    out = [f"  {model} ({', '.join(every)})"]
    rows = grouped_changes(per_env)
    for name, old, new, envs in rows:
        out.append(
            f"    {name}: {show_value(name, old, True)} -> {show_value(name, new, True)}"
            f" [{envs_note(envs, every)}]"
        )
    if not rows:
        out.append("    other settings (see the artifact diffs)")
    return out


def format_text_report(report: Report) -> str:
    out: list[str] = [f"modelkiln diff: {report.base} ({report.commit[:12]}) -> working tree"]
    if report.note:
        out.append(f"note: {report.note}")
    for delta in report.environments:
        out += _environment(delta)
    if report.changed:
        out += ["", "changed models"]
        for model, per_env in report.changed.items():
            out += _changed_model(model, per_env)
    if report.llm:
        out += ["", "language models (GPU memory per replica; cost at the SLO's peak)"]
        for model, pairs in report.llm.items():
            for env, pair in pairs.items():
                memory, cost = pair_lines(pair, True)
                out += [f"  {model} [{env}]", f"    GPU memory: {memory}", f"    cost: {cost}"]
    if report.errors:
        out.append("")
        for error in report.errors:
            out.append(f"error[{GATE}]: {error.message} [{', '.join(error.environments)}]")
            out.append(f"  = hint: {error.hint}")
    out.append("")
    out.append(
        f"artifacts: {len(report.artifacts_changed)} changed, "
        f"{len(report.artifacts_added)} added, {len(report.artifacts_removed)} removed"
    )
    text = "\n".join(out) + "\n"
    if report.diffs:
        text += "\n" + "".join(report.diffs.values())
    if report.errors:
        text += f"\n{len(report.errors)} error(s): version gate failed\n"
    return text
