"""The markdown report of `modelkiln diff`: a pull-request comment. The summary table
first, the version-gate errors, then one folded block per changed Model (with a mermaid
flowchart of its pipeline) and per artifact diff."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from compiler.diagnostics import Diagnostic
from compiler.gitops.compare import Changes, Report
from compiler.gitops.gate import GATE
from compiler.gitops.llm_report import pair_lines
from compiler.gitops.report_parts import (
    cost_line,
    envs_note,
    gpu_line,
    grouped_changes,
    show_value,
)
from compiler.plan import ModelPlan

MARKDOWN_DIFF_BUDGET = 40_000  # characters of diff text in a pull-request comment


def _fence(body: str, lang: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body}{'' if body.endswith(chr(10)) else chr(10)}{ticks}\n"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _code(text: str) -> str:
    """An inline code span that holds text whatever backticks it has (and no table pipe)."""
    text = text.replace("|", "\\|").replace("\n", " ")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _cell(text: str) -> str:
    """Prose in a table cell: no HTML, no pipe that ends the cell, on one line."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def _pipeline_steps(model: ModelPlan, gated: list[str]) -> tuple[list[str], list[str], list[str]]:
    """The flowchart's node lines, its edge lines, and the nodes whose inputs changed."""
    training = model.training
    assert training is not None
    nodes: list[tuple[str, str, bool]] = []  # id, label, changed
    checks = []
    for i, source in enumerate(model.data):
        hit = "data sources" in gated or any(g.startswith(f"data.{source.name}.") for g in gated)
        checks.append(f"check{i}")
        nodes.append((f"check{i}", f"data-check-{source.name}", hit))
    gpus = (
        f" ({_plural(training.gpus, 'GPU')} × {_plural(training.nodes, 'node')})"
        if training.gpus
        else ""
    )
    train_hit = any(g == "training" or g.startswith("training.") for g in gated)
    nodes.append(("train", f"train{gpus}", train_hit))
    chain = ["train"]
    evaluation = model.evaluation
    if evaluation is not None and evaluation.image:
        hit = "evaluation" in gated or any(
            g in ("evaluation.image", "evaluation.command", "evaluation.args") for g in gated
        )
        nodes.append(("evaluate", "evaluate", hit))
        chain.append("evaluate")
    if evaluation is not None and evaluation.gates:
        nodes.append(("gate", "gate", "evaluation" in gated or "evaluation.gates" in gated))
        chain.append("gate")
    nodes.append(("register", "register", False))
    chain.append("register")
    node_lines = [f'  {node}["{label}"]' for node, label, _ in nodes]
    edges = [f"  {check} --> train" for check in checks] + ["  " + " --> ".join(chain)]
    return node_lines, edges, [node for node, _, hit in nodes if hit]


def mermaid(model: ModelPlan, gated: list[str]) -> str:
    """The pipeline's steps as a mermaid flowchart; steps whose inputs changed stand out."""
    node_lines, edges, hits = _pipeline_steps(model, gated)
    lines = ["flowchart LR", *node_lines, *edges]
    if hits:
        lines.append("  classDef changed fill:#fff3b0,stroke:#d4a000")
        lines.append(f"  class {','.join(hits)} changed")
    return _fence("\n".join(lines) + "\n", "mermaid")


def diagnostics_table(diagnostics: Sequence[Diagnostic]) -> list[str]:
    """Diagnostics as a table: where (file:line:col), what (severity and code), message, hint."""
    out = ["| where | what | message | hint |", "| --- | --- | --- | --- |"]
    for d in diagnostics:
        where = _code(f"{d.file}:{d.line}:{d.column}")
        hint = _cell(d.hint) if d.hint else ""
        out.append(f"| {where} | {d.severity} {d.code} | {_cell(d.message)} | {hint} |")
    return out


def format_invalid_head_markdown(base: str, commit: str, diagnostics: Sequence[Diagnostic]) -> str:
    """The comment when the head specs do not validate: their diagnostics instead of a report."""
    errors = sum(1 for d in diagnostics if d.severity == "error")
    lines = [
        "## modelkiln diff",
        "",
        f"Compared with {_code(base)} (`{commit[:12]}`). **The specs in the working tree "
        f"do not validate: {_plural(errors, 'error')}.** There is no report until they do.",
        "",
        *diagnostics_table(diagnostics),
    ]
    return "\n".join(lines) + "\n"


def _summary(report: Report) -> list[str]:
    head = f"Compared with {_code(report.base)} (`{report.commit[:12]}`)."
    if report.errors:
        head += f" **{len(report.errors)} version-gate error(s).**"
    out = ["## modelkiln diff", "", head, ""]
    if report.note:
        out += [f"> [!NOTE]\n> {report.note}", ""]
    if report.base_diagnostics:
        out += ["<details>", "<summary>Why the base does not validate</summary>", ""]
        out += [*diagnostics_table(report.base_diagnostics), "", "</details>", ""]
    out += [
        "| environment | models added / removed / changed | GPUs (base → head) "
        "| est. monthly cost (base → head, delta) |",
        "| --- | --- | --- | --- |",
    ]
    for d in report.environments:
        env = f"`{d.name}`" + (f" ({d.status})" if d.status else "")
        models = f"{len(d.added)} / {len(d.removed)} / {len(d.changed)}"
        out.append(f"| {env} | {models} | {gpu_line(d, False)} | {cost_line(d, False)} |")
    out.append("")
    return out


def _gate_errors(report: Report) -> list[str]:
    if not report.errors:
        return []
    out = ["> [!CAUTION]", "> **Version gate failed**"]
    for error in report.errors:
        envs = ", ".join(error.environments)
        out.append(f"> - **{GATE}**: {error.message} (in {envs}).  ")
        out.append(f">   Hint: {error.hint}")
    out.append("")
    return out


def _added_and_removed(report: Report) -> list[str]:
    lists = [
        (f"`{d.name}`", label, models)
        for d in report.environments
        for label, models in (("added", d.added), ("removed", d.removed))
        if models
    ]
    if not lists:
        return []
    out = ["### Models added and removed", ""]
    for where, label, names in lists:
        out.append(f"- {where} {label}: " + ", ".join(f"`{m}`" for m in names))
    out.append("")
    return out


def _language_models(report: Report) -> list[str]:
    if not report.llm:
        return []
    out = [
        "### Language models",
        "",
        "GPU memory one replica needs against what vLLM may use, and the cost per million "
        "output tokens at the SLO's peak (docs/llm.md).",
        "",
        "| model | environment | GPU memory per replica | cost |",
        "| --- | --- | --- | --- |",
    ]
    for model, pairs in report.llm.items():
        for env, pair in pairs.items():
            memory, cost = pair_lines(pair, False)
            out.append(f"| `{model}` | `{env}` | {memory} | {cost} |")
    return [*out, ""]


def _changed_model(report: Report, model: str, per_env: dict[str, Changes]) -> list[str]:
    every = list(per_env)
    rows = grouped_changes(per_env)
    summary = f"<b>{model}</b> ({', '.join(every)})"
    version = next((row for row in rows if row[0] == "version"), None)
    if version is not None:
        summary += f": {version[1]} → {version[2]}"
    out = ["<details>", f"<summary>{summary}</summary>", ""]
    if rows:
        out += ["| field | base | head | environments |", "| --- | --- | --- | --- |"]
        for name, old, new, held in rows:
            out.append(
                f"| `{name}` | {_code(show_value(name, old, False))} "
                f"| {_code(show_value(name, new, False))} | {envs_note(held, every)} |"
            )
    else:
        out.append("Other settings changed: see the artifact diffs.")
    out.append("")
    if model in report.pipelines:
        env_name, plan = report.pipelines[model]
        out += [f"Pipeline in `{env_name}`:", ""]
        out.append(mermaid(plan, report.gated.get(model, [])))
    else:
        out += ["Serving only: no pipeline.", ""]
    return [*out, "</details>", ""]


def _artifact_diffs(report: Report) -> list[str]:
    """Every diff folded in its own block, until the comment's budget runs out."""
    kinds = {p: "changed" for p in report.artifacts_changed}
    kinds.update({p: "added" for p in report.artifacts_added})
    kinds.update({p: "removed" for p in report.artifacts_removed})
    budget = MARKDOWN_DIFF_BUDGET
    out: list[str] = []
    left: list[str] = []
    for path, text in report.diffs.items():
        if len(text) > budget:
            left.append(path)
            continue
        budget -= len(text)
        out += [
            "<details>",
            f"<summary><code>{path}</code> ({kinds[path]})</summary>",
            "",
            _fence(text, "diff"),
            "</details>",
            "",
        ]
    if left:
        out.append(
            f"{len(left)} more diff(s) left out to keep this comment short "
            "(run `modelkiln diff` locally):"
        )
        out.append("")
        out += [f"- `{p}` ({kinds[p]})" for p in left]
        out.append("")
    return out


def format_markdown(report: Report) -> str:
    out = _summary(report) + _gate_errors(report) + _added_and_removed(report)
    out += _language_models(report)
    if report.changed:
        out += ["### Changed models", ""]
        for model, per_env in report.changed.items():
            out += _changed_model(report, model, per_env)
    out += [
        "### Artifacts",
        "",
        f"{len(report.artifacts_changed)} changed, {len(report.artifacts_added)} added, "
        f"{len(report.artifacts_removed)} removed.",
        "",
    ]
    if report.diffs:
        out += _artifact_diffs(report)
    return "\n".join(out).rstrip("\n") + "\n"
