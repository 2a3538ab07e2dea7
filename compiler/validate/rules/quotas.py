"""Project quotas (Kueue): what they name exists, they fit their pools, and every GPU
workload fits its team's quota. Kueue never admits a workload that asks for more than its
ClusterQueue may ever use (nominal quota plus what it may borrow), and a workload of a team
without a quota on its pool waits in no queue at all (docs/training.md)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

from compiler import catalog
from compiler.deployment import serving_rollout
from compiler.diagnostics import Diagnostic, did_you_mean, enumerate_names, quote
from compiler.quota_plan import Amounts, amounts, machine_shape, team_quotas, usable
from compiler.sharing import devices_per_gpu
from compiler.spec.types import parse_quantity
from compiler.validate.context import ModelView, Specs
from compiler.validate.overrides import override_source

TEAMS = ("spec", "quotas", "teams")
RESOURCES = (("gpus", "GPUs"), ("cpu", "CPU"), ("memory", "memory"))


def references(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """Environments and pools named under quotas.teams exist, and each pool in its
    environment; a borrowingLimit needs borrowing (Kueue: no limit without a cohort)."""
    if specs.project is None:
        return
    project = specs.project
    quotas = project.obj.spec.quotas
    envs = [e.name for e in specs.environments]
    known = set(specs.pools) | broken.get("GpuPool", set())
    for team, by_env in quotas.teams.items():
        for env, by_pool in by_env.items():
            if env not in envs:
                yield project.at(
                    (*TEAMS, team, env),
                    "MK304",
                    f"quotas.teams.{team} names environment {quote(env)}, which is not defined",
                    did_you_mean(env, envs) or "environments: " + enumerate_names(envs),
                    key=True,
                )
                continue
            for name, quota in by_pool.items():
                at = (*TEAMS, team, env, name)
                pool = specs.pools.get(name)
                if name not in known:
                    yield project.at(
                        at,
                        "MK362",
                        f"quotas.teams.{team}.{env} names GpuPool {quote(name)}, which is not "
                        "defined",
                        did_you_mean(name, known)
                        or ("defined: " + enumerate_names(sorted(known)) if known else None),
                        key=True,
                    )
                elif pool is not None and env not in specs.pool_environments(pool):
                    yield project.at(
                        at,
                        "MK308",
                        f"GpuPool '{name}' does not exist in environment '{env}' (it exists "
                        f"in: {enumerate_names(specs.pool_environments(pool)) or 'none'})",
                        f"add '{env}' to the pool's environments, or remove this quota",
                        key=True,
                    )
                if quota.borrowing_limit is not None and not quotas.borrowing:
                    yield project.at(
                        (*at, "borrowingLimit"),
                        "MK364",
                        "borrowingLimit without quotas.borrowing: Kueue refuses a borrowing "
                        "limit on a ClusterQueue outside a cohort",
                        "set quotas.borrowing: true, or remove borrowingLimit",
                        key=True,
                    )


def _pool_amounts(specs: Specs, env: str, pool_name: str) -> dict[str, Amounts] | None:
    """team -> its nominal amounts on the pool in env; None when the pool cannot be in env
    (other rules report why)."""
    pool = specs.pools.get(pool_name)
    if specs.project is None or pool is None or env not in specs.pool_environments(pool):
        return None
    cloud = next(e.cloud.provider for e in specs.environments if e.name == env)
    spec = pool.obj.spec
    offer = catalog.offering(spec.accelerator, cloud)
    machine = spec.machine_type or (
        offer.default_machine_type(spec.gpus_per_node) if offer else None
    )
    if offer is None or machine is None:
        return None
    shape = machine_shape(spec.accelerator, cloud, machine)
    out = {}
    for team, by_pool in team_quotas(specs.project.obj.spec.quotas, env).items():
        quota = by_pool.get(pool_name)
        found = amounts(quota, spec.gpus_per_node, shape) if quota is not None else None
        if found is not None:
            out[team] = found
    return out


def overcommit(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """The teams' GPU quotas on a pool add up to more than its nodes hold: a warning (with
    borrowing and preemption some overcommit can be meant), naming the pool and excess."""
    if specs.project is None:
        return
    project = specs.project
    teams = project.obj.spec.quotas.teams
    for env in specs.environments:
        for name in sorted(specs.pools):
            shares = _pool_amounts(specs, env.name, name) or {}
            spec = specs.pools[name].obj.spec
            holds = spec.max_nodes * spec.gpus_per_node
            total = sum(a.gpus for a in shares.values())
            if total <= holds:
                continue
            first = next(t for t in teams if t in shares)  # in the document's order
            parts = enumerate_names(f"{t} {a.gpus}" for t, a in sorted(shares.items()))
            d = project.at(
                (*TEAMS, first, env.name, name),
                "MK363",
                f"GPU quotas on GpuPool '{name}' in environment '{env.name}' add up to {total} "
                f"({parts}), but the pool holds at most {holds} ({spec.max_nodes} nodes × "
                f"{spec.gpus_per_node}): {total - holds} over",
                f"lower the quotas, or raise the pool's maxNodes to "
                f"{math.ceil(total / spec.gpus_per_node)}",
                key=True,
            )
            yield replace(d, severity="warning")


def _demand(specs: Specs, view: ModelView, section: str) -> tuple[str, int, Amounts] | None:
    """(pool, pods, amounts per pod) of the model's GPU workload in that section: the
    training nodes, or serving's minimum replicas (what must run for the predictor to be
    up; a Standard-mode canary's are part of them)."""
    part = getattr(view.spec, section)
    gpus = specs.gpus_of(part.resources) if part is not None else 0
    if part is None or part.resources.pool is None or not gpus:
        return None
    res = part.resources
    pool = specs.pools.get(res.pool)
    if pool is not None and gpus > pool.obj.spec.gpus_per_node:
        return None  # a pod larger than a node: MK305's to report
    if section == "training":
        pods = res.nodes
    else:
        pods = serving_rollout(view.spec, view.env, None, view.name, "").replicas.min
    cpu = parse_quantity(res.cpu) if res.cpu else Decimal(0)
    memory = parse_quantity(res.memory) if res.memory else Decimal(0)
    return res.pool, pods, Amounts(gpus, cpu, memory)


def _locate(view: ModelView, section: str, code: str, message: str, hint: str) -> Diagnostic:
    path = (section, "resources")
    if override_source(view.override, path):
        return view.at(path, code, message, hint, key=True)
    return view.entry.doc.at(("spec", *path), code, message, hint, key=True)


def _sections(specs: Specs, view: ModelView) -> list[str]:
    assert specs.project is not None
    quotas = specs.project.obj.spec.quotas
    serving = quotas.serving_queues and view.env.serving.mode == "standard"
    return ["training", "serving"] if serving else ["training"]


def team_quota(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """Each GPU workload in an environment with quotas: its team has a quota on its pool
    there, and the workload fits what the team may use at most."""
    if specs.project is None:
        return
    quotas = specs.project.obj.spec.quotas
    for view in specs.views:
        teams = team_quotas(quotas, view.env.name)
        if not teams:
            continue  # no Kueue in this environment
        for section in _sections(specs, view):
            demand = _demand(specs, view, section)
            if demand is None:
                continue
            pool, pods, each = demand
            shares = _pool_amounts(specs, view.env.name, pool)
            if shares is None:
                continue  # an unknown pool, or not in this environment: reported elsewhere
            per_gpu = devices_per_gpu(specs.pools[pool].obj.spec)
            if per_gpu > 1:  # a replica asks for a slice; Kueue's quota is GPUs × slices
                shares = {t: replace(a, gpus=a.gpus * per_gpu) for t, a in shares.items()}
            yield from _check(specs, view, section, pool, pods, each, shares, per_gpu)


def _check(
    specs: Specs,
    view: ModelView,
    section: str,
    pool: str,
    pods: int,
    each: Amounts,
    shares: dict[str, Amounts],
    per_gpu: int = 1,
) -> Iterator[Diagnostic]:
    assert specs.project is not None
    quotas = specs.project.obj.spec.quotas
    env = view.env.name
    owner = view.entry.obj.metadata.owner
    work = "training" if section == "training" else "serving"
    if owner is None or owner not in shares:
        gpus = pods * each.gpus
        who = f"team {quote(owner)}" if owner else "the Model (it has no metadata.owner)"
        entry = f"quotas.teams.{owner or '<team>'}.{env}.{pool}: {{gpus: {gpus}}}"
        hint = f"add {entry} to modelkiln.yaml" + ("" if owner else ", and set metadata.owner")
        yield _locate(
            view,
            section,
            "MK361",
            f"{who} has no quota on GpuPool '{pool}' in environment '{env}', which has quotas: "
            f"Kueue would never admit its {work}",
            hint,
        )
        return
    quota = quotas.teams[owner][env][pool]
    others = [a for t, a in shares.items() if t != owner]
    limit = quota.borrowing_limit * per_gpu if quota.borrowing_limit is not None else None
    most = usable(shares[owner], others, limit, quotas.borrowing)
    over = [(r, label) for r, label in RESOURCES if each.of(r) * pods > most.of(r)]
    if not over:
        return
    asks = ", ".join(
        f"{_show(r, each.of(r) * pods)} {label} ({pods} × {_show(r, each.of(r))})"
        for r, label in over
    )
    allowed = ", ".join(f"{_show(r, most.of(r))} {label}" for r, label in over)
    how = "nominal" if not quotas.borrowing else "nominal plus what it may borrow"
    if per_gpu > 1:
        how += f"; GPUs counted as the {per_gpu} shared devices each GPU of the pool offers"
    yield _locate(
        view,
        section,
        "MK360",
        f"{work} asks for {asks} on GpuPool '{pool}' in environment '{env}', but team "
        f"'{owner}' may use at most {allowed} there ({how}): Kueue would never admit it",
        f"raise quotas.teams.{owner}.{env}.{pool}, or ask for less",
    )


def _show(resource: str, value: Decimal) -> str:
    if resource == "memory":
        return f"{value / (1024**3):.4g}Gi"
    return f"{value.normalize():f}"
