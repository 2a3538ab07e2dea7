"""Shared GPUs (GpuPool spec.sharing, ServingResources.migProfile; compiler/sharing.py): the
MIG profile exists on the accelerator, the cloud can make it, and what runs on a shared pool
asks for exactly one slice (or one time-sliced GPU)."""

from __future__ import annotations

from collections.abc import Iterator

from compiler import catalog
from compiler.diagnostics import Diagnostic, enumerate_names, quote
from compiler.sharing import cloud_refusal
from compiler.spec.model import ModelSpec
from compiler.validate.context import At, Specs


def mig_profile(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """MK380: sharing.mig names a profile of the pool's accelerator (catalog)."""
    for pool in specs.pools.values():
        spec = pool.obj.spec
        if spec.sharing is None or spec.sharing.mig is None:
            continue
        names = [p.name for p in catalog.mig_profiles(spec.accelerator)]
        if spec.sharing.mig in names:
            continue
        if not names:
            with_mig = [a for a in catalog.accelerators() if catalog.mig_profiles(a)]
            hint = (
                f"use timeSlicing: N to share {spec.accelerator}, or an accelerator with MIG: "
                + enumerate_names(with_mig)
            )
            what = f"{spec.accelerator} has no MIG"
        else:
            hint = f"MIG profiles of {spec.accelerator}: " + ", ".join(names)
            what = f"{spec.accelerator} has no MIG profile {quote(spec.sharing.mig)}"
        yield pool.at(("spec", "sharing", "mig"), "MK380", what, hint)


def sharing_cloud(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """MK383: the cloud of each environment of the pool can share its GPUs that way."""
    envs = {e.name: e for e in specs.environments}
    for pool in specs.pools.values():
        spec = pool.obj.spec
        sharing = spec.sharing
        if sharing is None:
            continue
        if sharing.mig is not None and catalog.mig_profile(spec.accelerator, sharing.mig) is None:
            continue  # MK380
        for env_name in specs.pool_environments(pool):
            cloud = envs[env_name].cloud.provider
            if catalog.offering(spec.accelerator, cloud) is None:
                continue  # MK306
            why = cloud_refusal(spec.accelerator, sharing, cloud)
            if why is not None:
                yield pool.at(
                    ("spec", "sharing", "mig"),
                    "MK383",
                    f"environment '{env_name}' ({cloud}): {why}",
                    "pick one of those profiles, or limit the pool with environments: [...]",
                )


def _one_device(specs: Specs, spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    training = spec.training
    if training is not None and training.resources.pool in specs.pools:
        pool = specs.pools[training.resources.pool]
        if pool.obj.spec.sharing is not None:
            yield at(
                ("training", "resources", "pool"),
                "MK382",
                f"GpuPool '{pool.name}' shares its GPUs (sharing); training needs whole GPUs",
                "train on a pool without sharing",
                False,
            )
    serving = spec.serving
    if serving is None or serving.resources.pool not in specs.pools:
        return
    pool = specs.pools[serving.resources.pool]
    if pool.obj.spec.sharing is None:
        return
    gpus = specs.gpus_of(serving.resources)
    what = "MIG slice" if pool.obj.spec.sharing.mig else "time-sliced GPU"
    why = (
        "vLLM cannot use tensor parallelism across MIG slices"
        if pool.obj.spec.sharing.mig
        else "more shares of time-sliced GPUs are not more GPU"
    )
    if gpus > 1:
        yield at(
            ("serving", "resources", "gpus"),
            "MK382",
            f"serving asks for {gpus} GPUs per replica on GpuPool '{pool.name}', which shares "
            f"its GPUs: a replica gets exactly one {what} ({why})",
            "gpus: 1, or a pool of whole GPUs",
            False,
            patch=1,
        )
    llm = serving.llm
    if llm is not None and llm.tensor_parallel is not None and llm.tensor_parallel > 1:
        yield at(
            ("serving", "llm", "tensorParallel"),
            "MK382",
            f"tensorParallel {llm.tensor_parallel} on GpuPool '{pool.name}', whose replicas "
            f"get one {what} each",
            "tensorParallel: 1, or a pool of whole GPUs",
            False,
            patch=1,
        )


def _slice(specs: Specs, spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    serving = spec.serving
    if serving is None or serving.resources.mig_profile is None:
        return
    wanted = serving.resources.mig_profile
    pool = specs.pools.get(serving.resources.pool or "")
    if pool is None:
        if serving.resources.pool is None:
            yield at(
                ("serving", "resources", "migProfile"),
                "MK381",
                f"migProfile {quote(wanted)} without a pool: MIG slices are on GPU pools",
                "set resources.pool to a GpuPool with sharing: {mig: " + wanted + "}",
                False,
            )
        return  # an unknown pool is MK303's
    sharing = pool.obj.spec.sharing
    mig = sharing.mig if sharing is not None else None
    if mig == wanted:
        return
    with_it = sorted(
        p.name
        for p in specs.pools.values()
        if p.obj.spec.sharing is not None and p.obj.spec.sharing.mig == wanted
    )
    has = f"is partitioned into {mig}" if mig else "has no MIG partitions"
    yield at(
        ("serving", "resources", "migProfile"),
        "MK381",
        f"migProfile {quote(wanted)}, but GpuPool '{pool.name}' {has}",
        ("pools with it: " + enumerate_names(with_it))
        if with_it
        else f"declare sharing: {{mig: {wanted}}} on a pool, or remove migProfile",
        False,
    )


def shared_workloads(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """MK381, MK382 for every Model spec (bases and environments' overrides)."""
    for _entry, spec, at in specs.model_specs():
        yield from _slice(specs, spec, at)
        yield from _one_device(specs, spec, at)
