"""`modelkiln diff`: what a change to the specs does to the compiled output.

The base revision is compiled from a temporary, detached `git worktree` (removed afterwards,
whatever happens); the head is the working tree as it is on disk, uncommitted changes
included. The user's checkout, index and HEAD are never touched. Both sides are compiled
in memory (load, validate, plan, render) and compared: models added, removed and changed
per environment, GPU and monthly cost ranges per environment, and a unified diff of every
artifact. The version gate refuses a change to a model's training, data or evaluation that
does not raise its `spec.version`.

Three formats: text (terminals and logs), markdown (a pull-request comment) and json.
GitPython is imported only inside the functions that need it.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.diagnostics import format_text
from compiler.errors import UsageError
from compiler.load import PROJECT_FILE, is_spec_root, load
from compiler.plan import (
    DataPlan,
    EnvironmentPlan,
    EvaluationPlan,
    ModelPlan,
    Plan,
    TrainingPlan,
    build_plan,
)
from compiler.render import render
from compiler.spec.types import semver_key
from compiler.validate import validate

if TYPE_CHECKING:
    from git import Repo

FORMATS = ("text", "markdown", "json")
SKIP = {"manifest.json"}  # compile's record of its inputs: not an artifact
GATE = "version-gate"
MARKDOWN_DIFF_BUDGET = 40_000  # characters of diff text in a pull-request comment

# --- the compiled sides -------------------------------------------------------------------


@dataclass
class Side:
    """One compiled revision: its plan (None when empty) and its artifacts."""

    plan: Plan | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    spec_files: dict[str, str] = field(default_factory=dict)  # model -> file under the root

    def environments(self) -> dict[str, EnvironmentPlan]:
        return {e.name: e for e in self.plan.environments} if self.plan else {}


@dataclass
class Invalid:
    """A revision that does not validate: its diagnostics, formatted as text."""

    text: str
    errors: int


def compile_side(root: Path) -> Side | Invalid:
    """validate(load(root)), build_plan, render, all in memory."""
    sources = load(root)
    result = validate(sources)
    if not result.ok:
        errors = sum(1 for d in result.diagnostics if d.severity == "error")
        return Invalid(format_text(result.diagnostics, sources.texts), errors)
    plan = build_plan(result.specs)
    files = {p: b for p, b in render(plan).items() if p not in SKIP}
    spec_files = {name: entry.doc.file for name, entry in result.specs.models.items()}
    return Side(plan, files, spec_files)


# --- git ----------------------------------------------------------------------------------


def _open_repo(root: Path) -> tuple[Repo, Path]:
    """The git repository around root, and root's path relative to its working tree."""
    try:
        import git
    except ImportError as err:  # GitPython refuses to import without a git executable
        raise UsageError("git is not available", str(err).splitlines()[0]) from None
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageError(
            f"{root} is not inside a git repository", "diff compares against a git revision"
        ) from None
    if repo.working_tree_dir is None:
        repo.close()
        raise UsageError(f"{root} is in a bare repository")
    try:
        rel = root.resolve().relative_to(Path(repo.working_tree_dir).resolve())
    except ValueError:
        repo.close()
        raise UsageError(f"{root} is not inside the working tree of its repository") from None
    return repo, rel


def _resolve(repo: Repo, ref: str) -> str:
    import git

    if not ref or ref.startswith("-"):
        raise UsageError(f"'{ref}' is not a git revision")
    try:
        sha = str(repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")).strip()
    except git.GitCommandError:
        sha = ""
    if not sha:
        raise UsageError(
            f"'{ref}' is not a commit of {repo.working_tree_dir}",
            "give a branch, tag or commit, e.g. --base origin/main (fetch it first in CI)",
        )
    return sha


# Variables that point git at a repository, an index or objects. Git exports them to hooks
# (a pre-commit hook gets GIT_INDEX_FILE): inherited by `git worktree add`, the checkout of
# the throwaway tree would be written into the user's index. The worktree commands run
# without them, from the repository's working tree.
_LOCATING = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)


def _git(cwd: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _LOCATING}
    return subprocess.run(
        ["git", "-C", cwd, *args], capture_output=True, text=True, env=env, check=False
    )


@contextmanager
def checkout(repo: Repo, commit: str) -> Iterator[Path]:
    """A detached worktree of commit in a temporary folder, removed on the way out."""
    assert repo.working_tree_dir is not None
    cwd = str(repo.working_tree_dir)
    tmp = Path(tempfile.mkdtemp(prefix="modelkiln-diff-"))
    tree = tmp / "base"
    try:
        # no hooks: a post-checkout hook has no business running for a throwaway tree
        hooks = ("-c", "core.hooksPath=/dev/null")
        added = _git(cwd, *hooks, "worktree", "add", "--detach", "--quiet", str(tree), commit)
        if added.returncode != 0:
            raise UsageError(
                f"cannot check out {commit[:12]} in a temporary worktree",
                added.stderr.strip() or None,
            )
        yield tree
    finally:
        _git(cwd, "worktree", "remove", "--force", str(tree))  # fails if never added: fine
        shutil.rmtree(tmp, ignore_errors=True)
        _git(cwd, "worktree", "prune")


# --- comparison ---------------------------------------------------------------------------

Value = Any  # JSON-native: str, int, float, bool, None, or a list of them
Changes = dict[str, tuple[Value, Value]]  # field -> (base, head)


def model_fields(m: ModelPlan) -> dict[str, Value]:
    """The fields the report compares, by name; absent fields are left out."""
    out: dict[str, Value] = {"version": m.version}
    for d in m.data:
        out[f"data.{d.name}"] = d.version
    t = m.training
    if t is not None:
        out["training.image"] = t.image
        out["training.gpus"] = [t.gpus, t.nodes]
        out["training.pool"] = t.pool.name if t.pool else None
        for key, value in t.hyperparameters:
            out[f"training.hyperparameters.{key}"] = value
    e = m.evaluation
    if e is not None and e.image:
        out["evaluation.image"] = e.image
    s = m.serving
    if s is not None:
        out["serving.replicas"] = [s.replicas.min, s.replicas.max]
        out["serving.gpus"] = s.gpus
        out["serving.pool"] = s.pool.name if s.pool else None
        out["slo.latencyP99Ms"] = s.latency_p99_ms
        out["slo.availability"] = s.availability
        out["slo.throughputRps"] = s.throughput_rps
    return out


def field_changes(base: ModelPlan, head: ModelPlan) -> Changes:
    old, new = model_fields(base), model_fields(head)
    keys = list(old) + [k for k in new if k not in old]
    return {k: (old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)}


_TRAINING_NAMES = {
    "pool": "resources.pool",
    "gpus": "resources.gpus",
    "nodes": "resources.nodes",
    "cpu": "resources.cpu",
    "memory": "resources.memory",
    "strategy": "distributed.strategy",
    "timeout_seconds": "timeout",
}


def _training_key(t: TrainingPlan) -> dict[str, Any]:
    values = {f.name: getattr(t, f.name) for f in dataclasses.fields(t)}
    pool = t.pool
    # what the model trains on, not the pool's size or price (those change no model)
    values["pool"] = (pool.name, pool.accelerator, pool.machine_type) if pool else None
    return values


def gated_changes(base: ModelPlan, head: ModelPlan) -> list[str]:
    """What changed in the model's training, data or evaluation (the gated parts)."""
    out: list[str] = []
    bt, ht = base.training, head.training
    if (bt is None) != (ht is None):
        out.append("training")
    elif bt is not None and ht is not None:
        old, new = _training_key(bt), _training_key(ht)
        out += [f"training.{_TRAINING_NAMES.get(k, k)}" for k in old if old[k] != new[k]]
    bd: dict[str, DataPlan] = {d.name: d for d in base.data}
    hd: dict[str, DataPlan] = {d.name: d for d in head.data}
    if list(bd) != list(hd):
        out.append("data sources")
    for name in [n for n in hd if n in bd]:
        for f in dataclasses.fields(DataPlan):
            if getattr(bd[name], f.name) != getattr(hd[name], f.name):
                what = "schema" if f.name == "columns" else f.name
                out.append(f"data.{name}.{what}")
    be, he = base.evaluation, head.evaluation
    if (be is None) != (he is None):
        out.append("evaluation")
    elif be is not None and he is not None:
        out += [
            f"evaluation.{f.name}"
            for f in dataclasses.fields(EvaluationPlan)
            if getattr(be, f.name) != getattr(he, f.name)
        ]
    return out


def version_increased(base: str, head: str) -> bool:
    try:
        return semver_key(head) > semver_key(base)
    except ValueError:
        return False


def next_patch(version: str) -> str | None:
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    if match is None:
        return None
    return f"{match[1]}.{match[2]}.{int(match[3]) + 1}"


@dataclass
class EnvDelta:
    name: str
    status: str  # "" | "added" | "removed" (the environment itself)
    base_gpus: tuple[int, int]
    head_gpus: tuple[int, int]
    base_cost: tuple[float, float]
    head_cost: tuple[float, float]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    artifacts: int = 0  # artifacts of the environment changed, added or removed

    @property
    def state(self) -> str:
        """added | removed | changed | unchanged"""
        if self.status:
            return self.status
        moved = self.base_gpus != self.head_gpus or self.base_cost != self.head_cost
        touched = self.added or self.removed or self.changed or self.artifacts
        return "changed" if moved or touched else "unchanged"

    @property
    def gpu_delta(self) -> tuple[int, int]:
        return (self.head_gpus[0] - self.base_gpus[0], self.head_gpus[1] - self.base_gpus[1])

    @property
    def cost_delta(self) -> tuple[float, float]:
        return (self.head_cost[0] - self.base_cost[0], self.head_cost[1] - self.base_cost[1])


@dataclass
class GateError:
    model: str
    changed: list[str]
    base_version: str
    head_version: str
    environments: list[str]
    file: str | None

    @property
    def message(self) -> str:
        what = ", ".join(self.changed)
        stayed = (
            f"stayed {self.head_version}"
            if self.head_version == self.base_version
            else f"went from {self.base_version} to {self.head_version}"
        )
        return f"model '{self.model}': {what} changed but spec.version {stayed}"

    @property
    def hint(self) -> str:
        where = f" in {self.file}" if self.file else ""
        suggestion = next_patch(self.base_version)
        also = f" (e.g. {suggestion})" if suggestion else ""
        return (
            f"bump spec.version{where} above {self.base_version}{also}: a retrained model "
            "must not be registered under the version of the old one"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": GATE,
            "model": self.model,
            "message": self.message,
            "hint": self.hint,
            "changed": self.changed,
            "environments": self.environments,
            "base_version": self.base_version,
            "head_version": self.head_version,
        }


@dataclass
class Report:
    base: str
    commit: str
    note: str | None
    environments: list[EnvDelta]
    changed: dict[str, dict[str, Changes]]  # model -> env -> field -> (base, head)
    gated: dict[str, list[str]]  # model -> gated parts that changed (any environment)
    errors: list[GateError]
    artifacts_changed: list[str]
    artifacts_added: list[str]
    artifacts_removed: list[str]
    diffs: dict[str, str]  # path -> unified diff
    pipelines: dict[str, tuple[str, ModelPlan]]  # changed model -> (env, its head plan)

    @property
    def added(self) -> list[str]:
        return sorted({m for e in self.environments for m in e.added})

    @property
    def removed(self) -> list[str]:
        return sorted({m for e in self.environments for m in e.removed})

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


def unified(path: str, old: bytes | None, new: bytes | None) -> str:
    a = old.decode("utf-8", "replace").splitlines(keepends=True) if old is not None else []
    b = new.decode("utf-8", "replace").splitlines(keepends=True) if new is not None else []
    lines = difflib.unified_diff(a, b, f"a/{path}", f"b/{path}")
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def compare(base: Side, head: Side, ref: str, commit: str, note: str | None) -> Report:
    """Everything the report says, computed once for every format."""
    bf, hf = base.files, head.files
    changed_paths = sorted(p for p in bf.keys() & hf.keys() if bf[p] != hf[p])
    added_paths = sorted(hf.keys() - bf.keys())
    removed_paths = sorted(bf.keys() - hf.keys())
    touched = set(changed_paths) | set(added_paths) | set(removed_paths)
    diffs = {p: unified(p, bf.get(p), hf.get(p)) for p in sorted(touched)}

    benvs, henvs = base.environments(), head.environments()
    names = list(henvs) + [n for n in benvs if n not in henvs]
    deltas: list[EnvDelta] = []
    changed: dict[str, dict[str, Changes]] = {}
    gated: dict[str, list[str]] = {}
    gate_envs: dict[str, list[str]] = {}
    versions: dict[str, tuple[str, str]] = {}
    pipelines: dict[str, tuple[str, ModelPlan]] = {}
    for name in names:
        b, h = benvs.get(name), henvs.get(name)
        status = "added" if b is None else "removed" if h is None else ""
        delta = EnvDelta(
            name,
            status,
            b.gpu_range() if b else (0, 0),
            h.gpu_range() if h else (0, 0),
            b.monthly_cost_range() if b else (0.0, 0.0),
            h.monthly_cost_range() if h else (0.0, 0.0),
        )
        bm = {m.name: m for m in b.models} if b else {}
        hm = {m.name: m for m in h.models} if h else {}
        delta.artifacts = sum(1 for p in touched if p.startswith(f"{name}/"))
        delta.added = sorted(hm.keys() - bm.keys())
        delta.removed = sorted(bm.keys() - hm.keys())
        for model in sorted(bm.keys() & hm.keys()):
            fields = field_changes(bm[model], hm[model])
            prefix = f"{name}/models/{model}/"
            if fields or any(p.startswith(prefix) for p in touched):
                delta.changed.append(model)
                changed.setdefault(model, {})[name] = fields
                if model not in pipelines and hm[model].training is not None:
                    pipelines[model] = (name, hm[model])
            parts = gated_changes(bm[model], hm[model])
            if parts:
                known = gated.setdefault(model, [])
                known += [p for p in parts if p not in known]
                if not version_increased(bm[model].version, hm[model].version):
                    gate_envs.setdefault(model, []).append(name)
                    versions.setdefault(model, (bm[model].version, hm[model].version))
        deltas.append(delta)
    for model in changed:  # a changed model without training in its changed environments
        if model not in pipelines:
            found = [(e.name, m) for e in henvs.values() for m in e.models if m.name == model]
            trained = [(e, m) for e, m in found if m.training is not None]
            if trained:
                pipelines[model] = trained[0]
    errors = [
        GateError(
            model,
            gated[model],
            versions[model][0],
            versions[model][1],
            gate_envs[model],
            head.spec_files.get(model),
        )
        for model in sorted(gate_envs)
    ]
    return Report(
        base=ref,
        commit=commit,
        note=note,
        environments=deltas,
        changed=dict(sorted(changed.items())),
        gated=gated,
        errors=errors,
        artifacts_changed=changed_paths,
        artifacts_added=added_paths,
        artifacts_removed=removed_paths,
        diffs=diffs,
        pipelines=pipelines,
    )


# --- formatting helpers -------------------------------------------------------------------


def _show(name: str, value: Value, ascii_only: bool) -> str:
    if value is None:
        return "none"
    if name == "training.gpus":
        gpus, nodes = value
        return f"{gpus} x {nodes}" if ascii_only else f"{gpus} × {nodes}"
    if name == "serving.replicas":
        return f"{value[0]}-{value[1]}" if ascii_only else f"{value[0]}–{value[1]}"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _range(lo: float, hi: float, ascii_only: bool, money: bool = False) -> str:
    dash = "-" if ascii_only else "–"
    if money:
        return f"${lo:,.0f}{dash}${hi:,.0f}"
    return f"{lo:.0f}{dash}{hi:.0f}"


def _signed(value: float, money: bool = False) -> str:
    sign = "-" if value < 0 else "+"
    magnitude = abs(value)
    return f"{sign}${magnitude:,.0f}" if money else f"{sign}{magnitude:.0f}"


def _grouped(per_env: dict[str, Changes]) -> list[tuple[str, Value, Value, list[str]]]:
    """A model's field changes with the environments each holds in, identical ones merged."""
    rows: dict[tuple[str, str, str], tuple[str, Value, Value, list[str]]] = {}
    for env, fields in per_env.items():
        for name, (old, new) in fields.items():
            key = (name, json.dumps(old, sort_keys=True), json.dumps(new, sort_keys=True))
            rows.setdefault(key, (name, old, new, []))[3].append(env)
    return list(rows.values())


def _gpu_line(d: EnvDelta, ascii_only: bool) -> str:
    arrow = "->" if ascii_only else "→"
    base = _range(*d.base_gpus, ascii_only)
    head = _range(*d.head_gpus, ascii_only)
    if d.base_gpus == d.head_gpus:
        return base
    lo, hi = d.gpu_delta
    return f"{base} {arrow} {head} ({_signed(lo)}/{_signed(hi)})"


def _cost_line(d: EnvDelta, ascii_only: bool) -> str:
    arrow = "->" if ascii_only else "→"
    base = _range(*d.base_cost, ascii_only, money=True)
    head = _range(*d.head_cost, ascii_only, money=True)
    if round(d.base_cost[0], 2) == round(d.head_cost[0], 2) and round(d.base_cost[1], 2) == round(
        d.head_cost[1], 2
    ):
        return base
    lo, hi = d.cost_delta
    return f"{base} {arrow} {head} ({_signed(lo, True)}/{_signed(hi, True)})"


def _envs_note(envs: list[str], every: list[str]) -> str:
    return "all environments" if envs == every else ", ".join(envs)


# --- text ---------------------------------------------------------------------------------


def format_text_report(r: Report) -> str:
    out: list[str] = [f"modelkiln diff: {r.base} ({r.commit[:12]}) -> working tree"]
    if r.note:
        out.append(f"note: {r.note}")
    for d in r.environments:
        what = f" ({d.status})" if d.status else ""
        out.append("")
        out.append(f"environment {d.name}{what}")
        out.append(f"  GPUs: {_gpu_line(d, True)}")
        out.append(f"  est. monthly cost: {_cost_line(d, True)}")
        for label, models in (("added", d.added), ("removed", d.removed), ("changed", d.changed)):
            if models:
                out.append(f"  models {label}: {', '.join(models)}")
        if not (d.added or d.removed or d.changed):
            out.append("  no model changes")
    if r.changed:
        out.append("")
        out.append("changed models")
        for model, per_env in r.changed.items():
            every = list(per_env)
            out.append(f"  {model} ({', '.join(every)})")
            rows = _grouped(per_env)
            for name, old, new, envs in rows:
                out.append(
                    f"    {name}: {_show(name, old, True)} -> {_show(name, new, True)}"
                    f" [{_envs_note(envs, every)}]"
                )
            if not rows:
                out.append("    other settings (see the artifact diffs)")
    if r.errors:
        out.append("")
        for e in r.errors:
            out.append(f"error[{GATE}]: {e.message} [{', '.join(e.environments)}]")
            out.append(f"  = hint: {e.hint}")
    out.append("")
    out.append(
        f"artifacts: {len(r.artifacts_changed)} changed, {len(r.artifacts_added)} added, "
        f"{len(r.artifacts_removed)} removed"
    )
    text = "\n".join(out) + "\n"
    if r.diffs:
        text += "\n" + "".join(r.diffs.values())
    if r.errors:
        text += f"\n{len(r.errors)} error(s): version gate failed\n"
    return text


# --- markdown -----------------------------------------------------------------------------


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


def mermaid(model: ModelPlan, gated: list[str]) -> str:
    """The pipeline's steps as a mermaid flowchart; steps whose inputs changed stand out."""
    t = model.training
    assert t is not None
    nodes: list[tuple[str, str, bool]] = []  # id, label, changed
    checks = []
    for i, d in enumerate(model.data):
        hit = "data sources" in gated or any(g.startswith(f"data.{d.name}.") for g in gated)
        checks.append(f"check{i}")
        nodes.append((f"check{i}", f"data-check-{d.name}", hit))
    gpus = f" ({_plural(t.gpus, 'GPU')} × {_plural(t.nodes, 'node')})" if t.gpus else ""
    train_hit = any(g == "training" or g.startswith("training.") for g in gated)
    nodes.append(("train", f"train{gpus}", train_hit))
    chain = ["train"]
    e = model.evaluation
    if e is not None and e.image:
        hit = "evaluation" in gated or any(
            g in ("evaluation.image", "evaluation.command", "evaluation.args") for g in gated
        )
        nodes.append(("evaluate", "evaluate", hit))
        chain.append("evaluate")
    if e is not None and e.gates:
        nodes.append(("gate", "gate", "evaluation" in gated or "evaluation.gates" in gated))
        chain.append("gate")
    nodes.append(("register", "register", False))
    chain.append("register")
    lines = ["flowchart LR"]
    lines += [f'  {node}["{label}"]' for node, label, _ in nodes]
    lines += [f"  {check} --> train" for check in checks]
    lines.append("  " + " --> ".join(chain))
    hits = [node for node, _, hit in nodes if hit]
    if hits:
        lines.append("  classDef changed fill:#fff3b0,stroke:#d4a000")
        lines.append(f"  class {','.join(hits)} changed")
    return _fence("\n".join(lines) + "\n", "mermaid")


def format_markdown(r: Report) -> str:
    out: list[str] = ["## modelkiln diff", ""]
    head = f"Compared with {_code(r.base)} (`{r.commit[:12]}`)."
    if r.errors:
        head += f" **{len(r.errors)} version-gate error(s).**"
    out += [head, ""]
    if r.note:
        out += [f"> [!NOTE]\n> {r.note}", ""]
    out += [
        "| environment | models added / removed / changed | GPUs (base → head) "
        "| est. monthly cost (base → head, delta) |",
        "| --- | --- | --- | --- |",
    ]
    for d in r.environments:
        env = f"`{d.name}`" + (f" ({d.status})" if d.status else "")
        models = f"{len(d.added)} / {len(d.removed)} / {len(d.changed)}"
        out.append(f"| {env} | {models} | {_gpu_line(d, False)} | {_cost_line(d, False)} |")
    out.append("")
    if r.errors:
        out.append("> [!CAUTION]")
        out.append("> **Version gate failed**")
        for e in r.errors:
            envs = ", ".join(e.environments)
            out.append(f"> - **{GATE}**: {e.message} (in {envs}).  ")
            out.append(f">   Hint: {e.hint}")
        out.append("")
    lists = [
        (f"`{d.name}`", label, models)
        for d in r.environments
        for label, models in (("added", d.added), ("removed", d.removed))
        if models
    ]
    if lists:
        out.append("### Models added and removed")
        out.append("")
        for where, label, names in lists:
            out.append(f"- {where} {label}: " + ", ".join(f"`{m}`" for m in names))
        out.append("")
    if r.changed:
        out += ["### Changed models", ""]
        for model, per_env in r.changed.items():
            every = list(per_env)
            rows = _grouped(per_env)
            summary = f"<b>{model}</b> ({', '.join(every)})"
            version = next((row for row in rows if row[0] == "version"), None)
            if version is not None:
                summary += f": {version[1]} → {version[2]}"
            out += ["<details>", f"<summary>{summary}</summary>", ""]
            if rows:
                out += ["| field | base | head | environments |", "| --- | --- | --- | --- |"]
                for name, old, new, held in rows:
                    out.append(
                        f"| `{name}` | {_code(_show(name, old, False))} "
                        f"| {_code(_show(name, new, False))} | {_envs_note(held, every)} |"
                    )
            else:
                out.append("Other settings changed: see the artifact diffs.")
            out.append("")
            if model in r.pipelines:
                env_name, plan = r.pipelines[model]
                out += [f"Pipeline in `{env_name}`:", ""]
                out.append(mermaid(plan, r.gated.get(model, [])))
            else:
                out += ["Serving only: no pipeline.", ""]
            out += ["</details>", ""]
    total = len(r.artifacts_changed) + len(r.artifacts_added) + len(r.artifacts_removed)
    out += [
        "### Artifacts",
        "",
        f"{len(r.artifacts_changed)} changed, {len(r.artifacts_added)} added, "
        f"{len(r.artifacts_removed)} removed.",
        "",
    ]
    if total:
        kinds = {p: "changed" for p in r.artifacts_changed}
        kinds.update({p: "added" for p in r.artifacts_added})
        kinds.update({p: "removed" for p in r.artifacts_removed})
        budget = MARKDOWN_DIFF_BUDGET
        left: list[str] = []
        for path, text in r.diffs.items():
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
    return "\n".join(out).rstrip("\n") + "\n"


# --- json ---------------------------------------------------------------------------------


def _money(value: float) -> float:
    return round(value, 2)


def format_json_report(r: Report) -> str:
    environments = {
        d.name: {
            "status": d.state,
            "gpus": {
                "base": list(d.base_gpus),
                "head": list(d.head_gpus),
                "delta": list(d.gpu_delta),
            },
            "monthly_cost_usd": {
                "base": [_money(v) for v in d.base_cost],
                "head": [_money(v) for v in d.head_cost],
                "delta": [_money(v) for v in d.cost_delta],
            },
            "models": {"added": d.added, "removed": d.removed, "changed": d.changed},
        }
        for d in r.environments
    }
    document = {
        "base": r.base,
        "base_commit": r.commit,
        "base_note": r.note,
        "environments": environments,
        "models": {
            "added": r.added,
            "removed": r.removed,
            "changed": {
                model: {env: {k: [old, new] for k, (old, new) in f.items()} for env, f in e.items()}
                for model, e in r.changed.items()
            },
        },
        "errors": [e.as_dict() for e in r.errors],
        "artifacts": {
            "changed": r.artifacts_changed,
            "added": r.artifacts_added,
            "removed": r.artifacts_removed,
        },
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


# --- the command --------------------------------------------------------------------------


def diff(root: Path, base: str, fmt: str) -> tuple[str, int]:
    """Compare the specs at root (the working tree) with the same folder at revision base.

    Returns the report in fmt (text | markdown | json) and the exit code: 0, or 1 when the
    head does not validate (its diagnostics are returned) or the version gate fails.
    Raises UsageError for a bad format, a root outside git, or a base that is not a commit.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}'", "formats: " + ", ".join(FORMATS))
    if not is_spec_root(root):
        raise UsageError(f"{root} is not a spec repository: it has no {PROJECT_FILE}")
    repo, rel = _open_repo(root)
    try:
        commit = _resolve(repo, base)
        head = compile_side(root)
        if isinstance(head, Invalid):
            return head.text, 1
        where = rel.as_posix() if rel.parts else "the repository root"
        note: str | None = None
        with checkout(repo, commit) as tree:
            spec_root = tree / rel
            if not is_spec_root(spec_root):
                old: Side | Invalid = Side()
                note = (
                    f"{base} has no {PROJECT_FILE} at {where}: the base is empty and "
                    "everything is reported as added"
                )
            else:
                old = compile_side(spec_root)
        if isinstance(old, Invalid):
            note = (
                f"the specs at {where} in {base} do not validate ({old.errors} error(s)): "
                "the base is empty and everything is reported as added"
            )
            old = Side()
    finally:
        repo.close()
    report = compare(old, head, base, commit, note)
    if fmt == "markdown":
        text = format_markdown(report)
    elif fmt == "json":
        text = format_json_report(report)
    else:
        text = format_text_report(report)
    return text, report.exit_code
