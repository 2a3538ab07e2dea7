"""Serving capacity: replicas (given or derived from the SLO, compiler.slo) must carry the
peak load, and each pool must hold every replica placed on it."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator

from compiler.diagnostics import Diagnostic, enumerate_names
from compiler.slo import replicas
from compiler.validate.context import ModelView, Specs


def _replicas(view: ModelView) -> tuple[int, int] | None:
    serving = view.spec.serving
    if serving is None:
        return None
    scaling = serving.autoscaling
    given = (scaling.min_replicas, scaling.max_replicas) if scaling else None
    r = replicas(serving.slo.throughput_rps, serving.capacity_rps, serving.slo.availability, given)
    return r.min, r.max


def throughput(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    for view in specs.views:
        serving = view.spec.serving
        if serving is None or serving.autoscaling is None:
            continue  # derived replicas carry the peak by construction
        top = serving.autoscaling.max_replicas * serving.capacity_rps
        if top < serving.slo.throughput_rps:
            least = math.ceil(serving.slo.throughput_rps / serving.capacity_rps)
            yield view.at(
                ("serving", "autoscaling", "maxReplicas"),
                "MK312",
                f"maxReplicas {serving.autoscaling.max_replicas} × capacityRps "
                f"{serving.capacity_rps:g} = {top:g} rps cannot serve throughputRps "
                f"{serving.slo.throughput_rps:g}",
                f"maxReplicas must be at least {least}, or remove autoscaling to derive it",
                patch=least,
            )


def pool_capacity(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """Per environment and pool: the GPUs of every replica that may run there at once."""
    demand: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for view in specs.views:
        serving = view.spec.serving
        scale = _replicas(view)
        if serving is None or scale is None or serving.resources.pool is None:
            continue
        if serving.resources.pool not in specs.pools:
            continue
        gpus = specs.gpus_of(serving.resources)
        per_node = specs.pools[serving.resources.pool].obj.spec.gpus_per_node
        if gpus and gpus <= per_node:  # a replica that cannot fit at all is MK305's to report
            demand[(view.env.name, serving.resources.pool)].append((view.name, scale[1] * gpus))
    for (env, name), users in sorted(demand.items()):
        pool = specs.pools[name]
        if env not in specs.pool_environments(pool):
            continue  # MK308 says so
        spec = pool.obj.spec
        holds = spec.max_nodes * spec.gpus_per_node
        needs = sum(n for _, n in users)
        if needs > holds:
            largest = sorted(users, key=lambda user: (-user[1], user[0]))
            parts = enumerate_names(f"{m} {n}" for m, n in largest)
            nodes = math.ceil(needs / spec.gpus_per_node)
            yield pool.at(
                ("spec", "maxNodes"),
                "MK313",
                f"GpuPool '{name}' holds at most {holds} GPUs in environment '{env}' "
                f"({spec.max_nodes} nodes × {spec.gpus_per_node}), but serving may need "
                f"{needs} at maxReplicas ({parts}): {needs - holds} short",
                f"raise maxNodes to {nodes}, or lower the models' maxReplicas",
            )
