"""The version gate of `modelkiln diff`: a change to a Model's training, data or evaluation
must raise its `spec.version`, or a retrained model would be registered under the version
of the old one."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from compiler.plan import DataPlan, EvaluationPlan, ModelPlan, TrainingPlan
from compiler.spec.types import semver_key

GATE = "version-gate"

# TrainingPlan fields by the name the spec gives them
_TRAINING_NAMES = {
    "pool": "resources.pool",
    "gpus": "resources.gpus",
    "nodes": "resources.nodes",
    "cpu": "resources.cpu",
    "memory": "resources.memory",
    "strategy": "distributed.strategy",
    "timeout_seconds": "timeout",
}


def _training_key(training: TrainingPlan) -> dict[str, Any]:
    values = {f.name: getattr(training, f.name) for f in dataclasses.fields(training)}
    pool = training.pool
    # what the model trains on, not the pool's size or price (those change no model)
    values["pool"] = (pool.name, pool.accelerator, pool.machine_type) if pool else None
    return values


def _training_changes(base: TrainingPlan | None, head: TrainingPlan | None) -> list[str]:
    if (base is None) != (head is None):
        return ["training"]
    if base is None or head is None:
        return []
    old, new = _training_key(base), _training_key(head)
    return [f"training.{_TRAINING_NAMES.get(k, k)}" for k in old if old[k] != new[k]]


def _data_changes(base: Sequence[DataPlan], head: Sequence[DataPlan]) -> list[str]:
    base_sources = {source.name: source for source in base}
    head_sources = {source.name: source for source in head}
    out = ["data sources"] if list(base_sources) != list(head_sources) else []
    for name in [n for n in head_sources if n in base_sources]:
        for f in dataclasses.fields(DataPlan):
            if getattr(base_sources[name], f.name) != getattr(head_sources[name], f.name):
                what = "schema" if f.name == "columns" else f.name
                out.append(f"data.{name}.{what}")
    return out


def _evaluation_changes(base: EvaluationPlan | None, head: EvaluationPlan | None) -> list[str]:
    if (base is None) != (head is None):
        return ["evaluation"]
    if base is None or head is None:
        return []
    return [
        f"evaluation.{f.name}"
        for f in dataclasses.fields(EvaluationPlan)
        if getattr(base, f.name) != getattr(head, f.name)
    ]


def gated_changes(base: ModelPlan, head: ModelPlan) -> list[str]:
    """What changed in the model's training, data or evaluation (the gated parts)."""
    return (
        _training_changes(base.training, head.training)
        + _data_changes(base.data, head.data)
        + _evaluation_changes(base.evaluation, head.evaluation)
    )


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
