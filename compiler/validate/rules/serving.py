"""Serving capacity: replicas (given or derived from the SLO, compiler.slo) must carry the
peak load, and each pool must hold every replica placed on it."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator

from compiler.deployment import load, serving_rollout
from compiler.diagnostics import Diagnostic, enumerate_names
from compiler.sharing import devices_per_gpu
from compiler.spec.gpupool import GpuPoolSpec
from compiler.validate.context import ModelView, Specs


def _most_replicas(view: ModelView) -> int | None:
    """The most pods of the model at once: maxReplicas, plus a Standard-mode canary's."""
    if view.spec.serving is None:
        return None
    rollout = serving_rollout(view.spec, view.env, None, view.name, "")
    return rollout.replicas.max + (rollout.canary.replicas if rollout.canary else 0)


def throughput(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    for view in specs.views:
        serving = view.spec.serving
        if serving is None or serving.autoscaling is None:
            continue  # derived replicas carry the peak by construction
        peak, capacity, _ = load(serving)
        top = serving.autoscaling.max_replicas * capacity
        if top < peak:
            least = math.ceil(peak / capacity)
            what = "capacity tokens/s" if serving.llm else "capacityRps"
            unit = "output tokens/s" if serving.llm else "rps"
            yield view.at(
                ("serving", "autoscaling", "maxReplicas"),
                "MK312",
                f"maxReplicas {serving.autoscaling.max_replicas} × {what} "
                f"{capacity:g} = {top:g} {unit} cannot serve the peak of {peak:g}",
                f"maxReplicas must be at least {least}, or remove autoscaling to derive it",
                patch=least,
            )


def _devices(spec: GpuPoolSpec) -> tuple[int, str]:
    """(devices per GPU, what one is): MIG slices or time-slicing clients share each GPU."""
    sharing = spec.sharing
    if sharing is None:
        return 1, "GPUs"
    unit = f"MIG {sharing.mig} slices" if sharing.mig else "time-sliced GPU shares"
    return devices_per_gpu(spec), unit


def pool_capacity(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """Per environment and pool: the devices (GPUs, or MIG slices / time-sliced shares of
    them) of every replica that may run there at once."""
    demand: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for view in specs.views:
        serving = view.spec.serving
        if serving is None or serving.resources.pool not in specs.pools:
            continue
        gpus = specs.gpus_of(serving.resources)
        per_node = specs.pools[serving.resources.pool].obj.spec.gpus_per_node
        most = _most_replicas(view)
        if gpus and gpus <= per_node and most:  # a replica too big is MK305's to report
            demand[(view.env.name, serving.resources.pool)].append((view.name, most * gpus))
    for (env, name), users in sorted(demand.items()):
        pool = specs.pools[name]
        if env not in specs.pool_environments(pool):
            continue  # MK308 says so
        spec = pool.obj.spec
        per_gpu, unit = _devices(spec)
        per_node = spec.gpus_per_node * per_gpu
        holds = spec.max_nodes * per_node
        needs = sum(n for _, n in users)
        if needs > holds:
            largest = sorted(users, key=lambda user: (-user[1], user[0]))
            parts = enumerate_names(f"{m} {n}" for m, n in largest)
            nodes = math.ceil(needs / per_node)
            shape = f"{spec.max_nodes} nodes × {spec.gpus_per_node}" + (
                f" GPUs × {per_gpu}" if per_gpu > 1 else ""
            )
            yield pool.at(
                ("spec", "maxNodes"),
                "MK313",
                f"GpuPool '{name}' holds at most {holds} {unit} in environment '{env}' "
                f"({shape}), but serving may need "
                f"{needs} at maxReplicas, canaries included ({parts}): {needs - holds} short",
                f"raise maxNodes to {nodes}, or lower the models' maxReplicas",
            )
