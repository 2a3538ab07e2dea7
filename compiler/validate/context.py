"""What the rules see: the typed specs with their documents, and each Model per environment."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from compiler.diagnostics import Diagnostic
from compiler.load import Document, PathKey
from compiler.spec import DataSource, GpuPool, Model, Project
from compiler.spec.model import ModelSpec, ServingResources, TrainingResources
from compiler.spec.project import Environment
from compiler.validate.overrides import base_value_hint, override_anchor, override_source

T = TypeVar("T", bound=BaseModel)


class _NoPatch(enum.Enum):
    NO_PATCH = enum.auto()


NO_PATCH = _NoPatch.NO_PATCH


class At(Protocol):
    """Where a diagnostic lands: (path, code, message, hint, at the key?) -> Diagnostic.

    `patch`, when a rule gives it, is the value that, set at path, fixes the problem (None:
    removing the key). Where an override causes a problem at a value of the base spec, the
    hint then says so and shows that fix in merge-patch terms."""

    def __call__(
        self,
        path: PathKey,
        code: str,
        message: str,
        hint: str | None,
        key: bool,
        /,
        *,
        patch: object = NO_PATCH,
    ) -> Diagnostic: ...


@dataclass(frozen=True)
class Entry(Generic[T]):
    doc: Document
    obj: T

    @property
    def name(self) -> str:
        name: str = self.obj.metadata.name  # type: ignore[attr-defined]
        return name

    def spec_at(
        self,
        path: PathKey,
        code: str,
        message: str,
        hint: str | None,
        key: bool,
        /,
        *,
        patch: object = NO_PATCH,
    ) -> Diagnostic:
        """A diagnostic at path inside spec (the At signature the rules use)."""
        return self.doc.at(("spec", *path), code, message, hint, key=key)

    def at(
        self, path: PathKey, code: str, message: str, hint: str | None = None, *, key: bool = False
    ) -> Diagnostic:
        """A diagnostic at path, relative to the document's root."""
        return self.doc.at(path, code, message, hint, key=key)


@dataclass
class Ledger:
    """What one validation knows of its base specs, shared by its views: the problems found
    in them (a problem the base has too is the base's), and each problem reported at an
    override instead of at the base value, for validate to settle once the rules over
    views have been run on the bases too (only when there is any)."""

    base_found: set[Diagnostic] = field(default_factory=set)
    relocated: dict[Diagnostic, Diagnostic] = field(default_factory=dict)  # -> at the base


@dataclass(frozen=True)
class ModelView:
    """One Model as it is in one environment: the base spec with that environment's override."""

    entry: Entry[Model]
    env: Environment
    spec: ModelSpec
    override: dict[str, Any] | None
    ledger: Ledger = field(default_factory=Ledger, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.entry.name

    def at(
        self,
        path: PathKey,
        code: str,
        message: str,
        hint: str | None = None,
        *,
        key: bool = False,
        patch: object = NO_PATCH,
    ) -> Diagnostic:
        """A diagnostic at path inside spec. A problem the base spec has too reads the same
        in every environment and is reported once, at the base. One the override caused is
        reported in the override, naming the environment: at path when the override set
        it, else at the override key that made the base value a problem; then, when the rule
        gives the fix (patch), the hint says where that value comes from and how to patch it.
        """
        prefix = f"in environment '{self.env.name}': "
        if override_source(self.override, path):
            if f"environment '{self.env.name}'" not in message:
                message = prefix + message
            doc_path: PathKey = ("spec", "environments", self.env.name, *path)
            return self.entry.doc.at(doc_path, code, message, hint, key=key)
        d = self.entry.doc.at(("spec", *path), code, message, hint, key=key)
        if self.override is None or d in self.ledger.base_found:
            return d
        anchor = override_anchor(self.override, path)
        doc = self.entry.doc
        line, column = doc.pos(("spec", "environments", self.env.name, *anchor), key=True)
        if patch is not NO_PATCH:
            hint = base_value_hint(doc, path, patch) or hint
        relocated = Diagnostic(d.file, line, column, code, prefix + message, hint)
        self.ledger.relocated[relocated] = d
        return relocated

    def rule_at(
        self,
        path: PathKey,
        code: str,
        message: str,
        hint: str | None,
        key: bool,
        /,
        *,
        patch: object = NO_PATCH,
    ) -> Diagnostic:
        return self.at(path, code, message, hint, key=key, patch=patch)

    def as_base(self) -> ModelView:
        """This Model in this environment as if it had no override."""
        return ModelView(self.entry, self.env, self.entry.obj.spec, None, self.ledger)


@dataclass(frozen=True)
class BaseLocator:
    """The At of a base Model spec; it keeps what it reports (see ModelView.at)."""

    entry: Entry[Model]
    found: set[Diagnostic]

    def __call__(
        self,
        path: PathKey,
        code: str,
        message: str,
        hint: str | None,
        key: bool,
        /,
        *,
        patch: object = NO_PATCH,
    ) -> Diagnostic:
        d = self.entry.spec_at(path, code, message, hint, key)
        self.found.add(d)
        return d


@dataclass
class Specs:
    project: Entry[Project] | None = None
    datasources: dict[str, Entry[DataSource]] = field(default_factory=dict)
    pools: dict[str, Entry[GpuPool]] = field(default_factory=dict)
    models: dict[str, Entry[Model]] = field(default_factory=dict)
    views: list[ModelView] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)

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
        """Every distinct Model spec: each base, then each environment's overridden one, with
        the At that reports an override's problems at the override (ModelView.at)."""
        for entry in self.models.values():
            yield entry, entry.obj.spec, BaseLocator(entry, self.ledger.base_found)
        for view in self.views:
            if view.override is not None:
                yield view.entry, view.spec, view.rule_at
