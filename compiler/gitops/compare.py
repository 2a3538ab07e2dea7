"""What a change does to the compiled output: two compiled sides in, one Report out,
computed once for every format (text, markdown, json)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from compiler.diagnostics import Diagnostic
from compiler.gitops.gate import GateError, gated_changes, version_increased
from compiler.gitops.llm_report import Pair, llm_pair
from compiler.llm import LlmPlan
from compiler.plan import EnvironmentPlan, ModelPlan, Plan

Value = Any  # JSON-native: str, int, float, bool, None, or a list of them
Changes = dict[str, tuple[Value, Value]]  # field -> (base, head)


@dataclass
class Side:
    """One compiled revision: its plan (None when empty) and its artifacts."""

    plan: Plan | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    spec_files: dict[str, str] = field(default_factory=dict)  # model -> file under the root

    def environments(self) -> dict[str, EnvironmentPlan]:
        return {e.name: e for e in self.plan.environments} if self.plan else {}


def model_fields(model: ModelPlan) -> dict[str, Value]:
    """The fields the report compares, by name; absent fields are left out."""
    out: dict[str, Value] = {"version": model.version}
    for source in model.data:
        out[f"data.{source.name}"] = source.version
    training = model.training
    if training is not None:
        out["training.image"] = training.image
        out["training.gpus"] = [training.gpus, training.nodes]
        out["training.pool"] = training.pool.name if training.pool else None
        for key, value in training.hyperparameters:
            out[f"training.hyperparameters.{key}"] = value
    evaluation = model.evaluation
    if evaluation is not None and evaluation.image:
        out["evaluation.image"] = evaluation.image
    serving = model.serving
    if serving is not None:
        out["serving.replicas"] = [serving.replicas.min, serving.replicas.max]
        out["serving.gpus"] = serving.gpus
        out["serving.pool"] = serving.pool.name if serving.pool else None
        if serving.llm is not None:
            out |= _llm_fields(serving.llm)
        else:
            out["slo.latencyP99Ms"] = serving.latency_p99_ms
            out["slo.throughputRps"] = serving.throughput_rps
        out["slo.availability"] = serving.availability
    return out


def _llm_fields(llm: LlmPlan) -> dict[str, Value]:
    return {
        "llm.source": llm.source,
        "llm.dtype": llm.dtype,
        "llm.maxContextTokens": llm.max_context_tokens,
        "llm.concurrentSequences": llm.concurrent_sequences,
        "llm.tensorParallel": llm.tensor_parallel,
        "slo.ttftP95Ms": llm.ttft_p95_ms,
        "slo.tpotP95Ms": llm.tpot_p95_ms,
        "slo.tokensPerSecond": llm.peak_tokens_per_second,
    }


def field_changes(base: ModelPlan, head: ModelPlan) -> Changes:
    old, new = model_fields(base), model_fields(head)
    keys = list(old) + [k for k in new if k not in old]
    return {k: (old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)}


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
    base_diagnostics: list[Diagnostic] = field(default_factory=list)  # why the base is empty
    # language models added, removed or changed: model -> env -> (base, head) memory and cost
    llm: dict[str, dict[str, Pair]] = field(default_factory=dict)

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


@dataclass
class _Artifacts:
    changed: list[str]
    added: list[str]
    removed: list[str]
    diffs: dict[str, str]  # path -> unified diff, every path touched

    @property
    def touched(self) -> set[str]:
        return set(self.diffs)


def _artifacts(base: dict[str, bytes], head: dict[str, bytes]) -> _Artifacts:
    changed = sorted(p for p in base.keys() & head.keys() if base[p] != head[p])
    added = sorted(head.keys() - base.keys())
    removed = sorted(base.keys() - head.keys())
    touched = sorted({*changed, *added, *removed})
    diffs = {p: unified(p, base.get(p), head.get(p)) for p in touched}
    return _Artifacts(changed, added, removed, diffs)


@dataclass
class _Tally:
    """What the models of every environment add up to, filled environment by environment."""

    changed: dict[str, dict[str, Changes]] = field(default_factory=dict)
    gated: dict[str, list[str]] = field(default_factory=dict)
    gate_envs: dict[str, list[str]] = field(default_factory=dict)  # model -> failing envs
    versions: dict[str, tuple[str, str]] = field(default_factory=dict)  # model -> (base, head)
    pipelines: dict[str, tuple[str, ModelPlan]] = field(default_factory=dict)
    llm: dict[str, dict[str, Pair]] = field(default_factory=dict)


def _compare_model(
    env: str, base: ModelPlan, head: ModelPlan, touched: set[str], tally: _Tally
) -> bool:
    """Record one model present on both sides of env; True when it changed there."""
    fields = field_changes(base, head)
    prefix = f"{env}/models/{base.name}/"
    changed = bool(fields) or any(p.startswith(prefix) for p in touched)
    if changed:
        tally.changed.setdefault(base.name, {})[env] = fields
        if base.name not in tally.pipelines and head.training is not None:
            tally.pipelines[base.name] = (env, head)
    parts = gated_changes(base, head)
    if parts:
        known = tally.gated.setdefault(base.name, [])
        known += [p for p in parts if p not in known]
        if not version_increased(base.version, head.version):
            tally.gate_envs.setdefault(base.name, []).append(env)
            tally.versions.setdefault(base.name, (base.version, head.version))
    return changed


def _compare_environment(
    name: str,
    base: EnvironmentPlan | None,
    head: EnvironmentPlan | None,
    touched: set[str],
    tally: _Tally,
) -> EnvDelta:
    delta = EnvDelta(
        name,
        "added" if base is None else "removed" if head is None else "",
        base.gpu_range() if base else (0, 0),
        head.gpu_range() if head else (0, 0),
        base.monthly_cost_range() if base else (0.0, 0.0),
        head.monthly_cost_range() if head else (0.0, 0.0),
    )
    base_models = {m.name: m for m in base.models} if base else {}
    head_models = {m.name: m for m in head.models} if head else {}
    delta.artifacts = sum(1 for p in touched if p.startswith(f"{name}/"))
    delta.added = sorted(head_models.keys() - base_models.keys())
    delta.removed = sorted(base_models.keys() - head_models.keys())
    for model in sorted(base_models.keys() & head_models.keys()):
        if _compare_model(name, base_models[model], head_models[model], touched, tally):
            delta.changed.append(model)
    for model in sorted({*delta.added, *delta.removed, *delta.changed}):
        pair = llm_pair(base_models.get(model), head_models.get(model))
        if pair is not None:
            tally.llm.setdefault(model, {})[name] = pair
    return delta


def _pipeline_elsewhere(tally: _Tally, head_envs: dict[str, EnvironmentPlan]) -> None:
    """A changed model without training where it changed: show its pipeline from the first
    environment that trains it."""
    for model in tally.changed:
        if model in tally.pipelines:
            continue
        trained = [
            (env.name, m)
            for env in head_envs.values()
            for m in env.models
            if m.name == model and m.training is not None
        ]
        if trained:
            tally.pipelines[model] = trained[0]


def compare(
    base: Side,
    head: Side,
    ref: str,
    commit: str,
    note: str | None,
    base_diagnostics: list[Diagnostic] | None = None,
) -> Report:
    """Everything the report says, computed once for every format."""
    artifacts = _artifacts(base.files, head.files)
    base_envs, head_envs = base.environments(), head.environments()
    names = list(head_envs) + [n for n in base_envs if n not in head_envs]
    tally = _Tally()
    deltas = [
        _compare_environment(
            name, base_envs.get(name), head_envs.get(name), artifacts.touched, tally
        )
        for name in names
    ]
    _pipeline_elsewhere(tally, head_envs)
    errors = [
        GateError(
            model,
            tally.gated[model],
            tally.versions[model][0],
            tally.versions[model][1],
            tally.gate_envs[model],
            head.spec_files.get(model),
        )
        for model in sorted(tally.gate_envs)
    ]
    return Report(
        base=ref,
        commit=commit,
        note=note,
        environments=deltas,
        changed=dict(sorted(tally.changed.items())),
        gated=tally.gated,
        errors=errors,
        artifacts_changed=artifacts.changed,
        artifacts_added=artifacts.added,
        artifacts_removed=artifacts.removed,
        diffs=artifacts.diffs,
        pipelines=tally.pipelines,
        base_diagnostics=list(base_diagnostics or []),
        llm=dict(sorted(tally.llm.items())),
    )
