"""Every name that one document uses must resolve to another."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.diagnostics import Diagnostic, did_you_mean, enumerate_names, quote
from compiler.validate.context import Specs


def environment_names(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """Environment names are unique, and every list of environment names resolves."""
    if specs.project is None:
        return
    project = specs.project
    names = [e.name for e in project.obj.spec.environments]
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield project.at(
                ("spec", "environments", i, "name"),
                "MK311",
                f"environment '{name}' is defined twice",
            )
        seen.add(name)
    policies = project.obj.spec.policies
    for field, listed in (
        ("requireCanaryIn", policies.require_canary_in),
        ("requirePinnedData", policies.require_pinned_data),
    ):
        for i, name in enumerate(listed):
            if name not in seen:
                yield project.at(
                    ("spec", "policies", field, i),
                    "MK304",
                    f"policies.{field} names environment {quote(name)}, which is not defined",
                    did_you_mean(name, names) or "environments: " + enumerate_names(names),
                )
    for pool in specs.pools.values():
        for i, name in enumerate(pool.obj.spec.environments or []):
            if name not in seen:
                yield pool.at(
                    ("spec", "environments", i),
                    "MK304",
                    f"GpuPool '{pool.name}' names environment {quote(name)}, which is not defined",
                    did_you_mean(name, names) or "environments: " + enumerate_names(names),
                )


def data_sources(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    known = set(specs.datasources) | broken.get("DataSource", set())
    for _entry, spec, at in specs.model_specs():
        for i, ref in enumerate(spec.data):
            if ref.source not in known:
                yield at(
                    ("data", i, "source"),
                    "MK302",
                    f"DataSource {quote(ref.source)} is not defined",
                    did_you_mean(ref.source, known)
                    or ("defined: " + enumerate_names(sorted(known)) if known else None),
                    False,
                )


def pools(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """Pools exist, and exist in the environment the Model runs in."""
    known = set(specs.pools) | broken.get("GpuPool", set())
    for _entry, spec, at in specs.model_specs():
        for section in ("training", "serving"):
            part = getattr(spec, section)
            pool = part.resources.pool if part is not None else None
            if pool is not None and pool not in known:
                yield at(
                    (section, "resources", "pool"),
                    "MK303",
                    f"GpuPool {quote(pool)} is not defined",
                    did_you_mean(pool, known)
                    or ("defined: " + enumerate_names(sorted(known)) if known else None),
                    False,
                )
    for view in specs.views:
        for section in ("training", "serving"):
            part = getattr(view.spec, section)
            name = part.resources.pool if part is not None else None
            entry = specs.pools.get(name) if name else None
            if entry is None:
                continue
            active = specs.pool_environments(entry)
            if view.env.name not in active:
                yield view.at(
                    (section, "resources", "pool"),
                    "MK308",
                    f"GpuPool '{name}' does not exist in environment '{view.env.name}' "
                    f"(it exists in: {enumerate_names(active) or 'none'})",
                    f"add '{view.env.name}' to the pool's environments, or override "
                    f"{section}.resources.pool under environments.{view.env.name}",
                )
