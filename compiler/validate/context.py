"""What the rules see: the typed specs with their documents, and each Model per environment."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from compiler.diagnostics import Diagnostic
from compiler.load import Document, PathKey
from compiler.spec import DataSource, GpuPool, Model, Project
from compiler.spec.model import ModelSpec, ServingResources, TrainingResources
from compiler.spec.project import Environment

T = TypeVar("T", bound=BaseModel)

# Where a diagnostic lands: (path, code, message, hint, at the key?) -> Diagnostic
At = Callable[[PathKey, str, str, str | None, bool], Diagnostic]


@dataclass(frozen=True)
class Entry(Generic[T]):
    doc: Document
    obj: T

    @property
    def name(self) -> str:
        name: str = self.obj.metadata.name  # type: ignore[attr-defined]
        return name

    def spec_at(
        self, path: PathKey, code: str, message: str, hint: str | None, key: bool
    ) -> Diagnostic:
        """A diagnostic at path inside spec (the At signature the rules use)."""
        return self.doc.at(("spec", *path), code, message, hint, key=key)

    def at(
        self, path: PathKey, code: str, message: str, hint: str | None = None, *, key: bool = False
    ) -> Diagnostic:
        """A diagnostic at path, relative to the document's root."""
        return self.doc.at(path, code, message, hint, key=key)


def override_source(override: dict[str, Any] | None, path: PathKey) -> bool:
    """True when the merged value at path (inside spec) came from the override."""
    node: Any = override
    if node is None:
        return False
    for step in path:
        if isinstance(node, dict):
            if step not in node:
                return False
            node = node[step]
        else:
            return True  # the override replaced this whole list or scalar
    return True


@dataclass(frozen=True)
class ModelView:
    """One Model as it is in one environment: the base spec with that environment's override."""

    entry: Entry[Model]
    env: Environment
    spec: ModelSpec
    override: dict[str, Any] | None

    @property
    def name(self) -> str:
        return self.entry.name

    def at(
        self, path: PathKey, code: str, message: str, hint: str | None = None, *, key: bool = False
    ) -> Diagnostic:
        """A diagnostic at path inside spec. Where the override caused it, it points into the
        override and names the environment; a problem of the base spec reads the same in
        every environment, so it is reported once."""
        if override_source(self.override, path):
            doc_path: PathKey = ("spec", "environments", self.env.name, *path)
            if f"environment '{self.env.name}'" not in message:
                message = f"in environment '{self.env.name}': {message}"
        else:
            doc_path = ("spec", *path)
        return self.entry.doc.at(doc_path, code, message, hint, key=key)

    def rule_at(
        self, path: PathKey, code: str, message: str, hint: str | None, key: bool
    ) -> Diagnostic:
        return self.at(path, code, message, hint, key=key)


@dataclass
class Specs:
    project: Entry[Project] | None = None
    datasources: dict[str, Entry[DataSource]] = field(default_factory=dict)
    pools: dict[str, Entry[GpuPool]] = field(default_factory=dict)
    models: dict[str, Entry[Model]] = field(default_factory=dict)
    views: list[ModelView] = field(default_factory=list)

    @property
    def environments(self) -> list[Environment]:
        return list(self.project.obj.spec.environments) if self.project else []

    def pool_environments(self, pool: Entry[GpuPool]) -> list[str]:
        names = [e.name for e in self.environments]
        wanted = pool.obj.spec.environments
        return names if wanted is None else [n for n in names if n in wanted]

    def gpus_of(self, resources: TrainingResources | ServingResources) -> int:
        """GPUs per node (training) or per replica (serving): explicit, else the pool's
        gpusPerNode for training and 1 for serving, else 0 on CPU nodes."""
        if resources.gpus is not None:
            return resources.gpus
        pool = self.pools.get(resources.pool) if resources.pool else None
        if pool is None:
            return 0
        return pool.obj.spec.gpus_per_node if isinstance(resources, TrainingResources) else 1

    def views_in(self, env: str) -> Iterator[ModelView]:
        return (v for v in self.views if v.env.name == env)

    def model_specs(self) -> Iterator[tuple[Entry[Model], ModelSpec, At]]:
        """Every distinct Model spec: each base, and each environment's overridden one."""
        for entry in self.models.values():
            yield entry, entry.obj.spec, entry.spec_at
        for view in self.views:
            if view.override is not None:
                yield view.entry, view.spec, view.rule_at
