"""GPU pools against the catalog, and GPU requests against their pools."""

from __future__ import annotations

from collections.abc import Iterator

from compiler import catalog
from compiler.diagnostics import Diagnostic, did_you_mean, enumerate_names, quote
from compiler.validate.context import Specs


def node_range(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    for pool in specs.pools.values():
        spec = pool.obj.spec
        if spec.min_nodes > spec.max_nodes:
            yield pool.at(
                ("spec", "minNodes"),
                "MK213",
                f"minNodes {spec.min_nodes} is greater than maxNodes {spec.max_nodes}",
            )


def accelerator_offered(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """Each pool's accelerator and machine type exist in the cloud of each of its envs."""
    envs = {e.name: e for e in specs.environments}
    for pool in specs.pools.values():
        spec = pool.obj.spec
        for env_name in specs.pool_environments(pool):
            cloud = envs[env_name].cloud.provider
            offer = catalog.offering(spec.accelerator, cloud)
            if offer is None:
                where = catalog.clouds_offering(spec.accelerator)
                yield pool.at(
                    ("spec", "accelerator"),
                    "MK306",
                    f"{spec.accelerator} is not offered on {cloud} (environment '{env_name}'): "
                    f"{catalog.not_offered_reason(spec.accelerator, cloud)}",
                    f"offered on: {enumerate_names(where)}; "
                    "or limit the pool with environments: [...]",
                )
                continue
            counts = sorted({n for _, n in offer.machine_types})
            if spec.machine_type is None:
                if offer.default_machine_type(spec.gpus_per_node) is None:
                    yield pool.at(
                        ("spec", "gpusPerNode"),
                        "MK307",
                        f"no {cloud} machine type has {spec.gpus_per_node} × {spec.accelerator} "
                        f"(environment '{env_name}')",
                        f"{cloud} offers {spec.accelerator} with "
                        f"{enumerate_names(counts)} GPU(s) per node",
                    )
                continue
            gpus = offer.gpus_of(spec.machine_type)
            if gpus is None:
                names = [name for name, _ in offer.machine_types]
                yield pool.at(
                    ("spec", "machineType"),
                    "MK307",
                    f"{quote(spec.machine_type)} is not a {cloud} machine type with "
                    f"{spec.accelerator} (environment '{env_name}')",
                    did_you_mean(spec.machine_type, names) or "known: " + enumerate_names(names),
                )
            elif gpus != spec.gpus_per_node:
                yield pool.at(
                    ("spec", "machineType"),
                    "MK307",
                    f"{quote(spec.machine_type)} has {gpus} GPU(s) but gpusPerNode is "
                    f"{spec.gpus_per_node}",
                    f"set gpusPerNode: {gpus}, or pick another machine type",
                )


def gpus_per_node(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    for _entry, spec, at in specs.model_specs():
        for section in ("training", "serving"):
            part = getattr(spec, section)
            if part is None or part.resources.pool is None or part.resources.gpus is None:
                continue
            pool = specs.pools.get(part.resources.pool)
            if pool is not None and part.resources.gpus > pool.obj.spec.gpus_per_node:
                per = "node" if section == "training" else "replica"
                yield at(
                    (section, "resources", "gpus"),
                    "MK305",
                    f"{section} asks for {part.resources.gpus} GPUs per {per}, but nodes of "
                    f"GpuPool '{pool.name}' have {pool.obj.spec.gpus_per_node}",
                    f"at most {pool.obj.spec.gpus_per_node}"
                    + (
                        "; use nodes > 1 with distributed to train on more" if per == "node" else ""
                    ),
                    False,
                    patch=pool.obj.spec.gpus_per_node,
                )
