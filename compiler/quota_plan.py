"""Kueue quotas resolved per environment (Project `quotas`, docs/training.md).

What the Kueue back end renders and what validation checks come from here: the object
names, each team's nominal quota per pool (cpu and memory derived from the pool's machine
shape when not given), and what a team may use at most when it borrows. Kueue admits a
workload only when every resource it requests is covered by its ClusterQueue (kueue
v0.19.2 pkg/scheduler/flavorassigner/flavorassigner.go:1071, "resource %s unavailable in
ClusterQueue"), so cpu, memory and nvidia.com/gpu are always covered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from compiler import catalog
from compiler.spec.quotas import PoolQuota, Quotas
from compiler.spec.types import parse_quantity

if TYPE_CHECKING:
    from compiler.plan import ModelPlan, PoolPlan

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"  # pkg/controller/constants/constants.go:23
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"  # same file, :48
LABEL_VALUE_MAX = 63
GIB = Decimal(1024**3)
MIB = Decimal(1024**2)


@dataclass(frozen=True)
class Amounts:
    """One team's nominal quota on one pool: GPUs, CPU cores, memory bytes."""

    gpus: int
    cpu: Decimal
    memory: Decimal

    def of(self, resource: str) -> Decimal:
        return {"gpus": Decimal(self.gpus), "cpu": self.cpu, "memory": self.memory}[resource]


@dataclass(frozen=True)
class FlavorQuota:
    pool: str
    flavor: str  # the ResourceFlavor's name
    gpus: int
    cpu: str  # Kubernetes quantities
    memory: str
    borrowing_limit: int | None  # GPUs; None: no limit (or no cohort)
    # what the pool's pods ask for (compiler/sharing.py): nvidia.com/gpu, or a MIG slice
    # nvidia.com/mig-<profile>; and how many of it each GPU is (MIG slices, time-slicing
    # clients): Kueue counts what pods request, so the quota is GPUs × devices per GPU
    resource: str = "nvidia.com/gpu"
    per_gpu: int = 1

    @property
    def devices(self) -> int:
        return self.gpus * self.per_gpu

    @property
    def borrowing_devices(self) -> int | None:
        return None if self.borrowing_limit is None else self.borrowing_limit * self.per_gpu


@dataclass(frozen=True)
class TeamQueue:
    team: str
    cluster_queue: str
    local_queue: str  # in the environment's namespace; the queue-name label's value
    flavors: tuple[FlavorQuota, ...]


@dataclass(frozen=True)
class KueuePlan:
    cohort: str | None
    teams: tuple[TeamQueue, ...]
    priority_classes: tuple[tuple[str, int, str], ...]  # (name, value, what it is for)
    serving_class: str | None
    training_class: str | None
    serving_queues: bool

    def queue_of(self, team: str | None) -> str | None:
        return next((t.local_queue for t in self.teams if t.team == team), None)


def scoped_name(env: str, suffix: str, limit: int = LABEL_VALUE_MAX) -> str:
    """`<env>-<suffix>`: cluster-scoped objects of two environments on one cluster do not
    collide. Cut to limit (a label value's 63 characters) with a hash of the full name."""
    name = f"{env}-{suffix}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = limit - len(suffix) - len(digest) - 2
    return f"{env[:keep].rstrip('-')}-{digest}-{suffix}"


def flavor_name(env: str, pool: str) -> str:
    return scoped_name(env, pool, 253)


def cluster_queue_name(env: str, team: str) -> str:
    return scoped_name(env, team, 253)


def machine_shape(accelerator: str, cloud: str, machine_type: str) -> tuple[int, float] | None:
    """(vCPUs, memory GiB) of the machine type, from the catalog."""
    offer = catalog.offering(accelerator, cloud)
    shape = offer.machine_shape(machine_type) if offer is not None else None
    return None if shape is None else (shape.vcpus, shape.memory_gib)


def amounts(
    quota: PoolQuota, gpus_per_node: int, shape: tuple[int, float] | None
) -> Amounts | None:
    """The quota's nominal amounts; cpu and memory default to the GPUs' share of the
    nodes (None when one is absent and the machine's shape is unknown)."""
    share = Decimal(quota.gpus) / Decimal(gpus_per_node)
    if quota.cpu is not None:
        cpu = parse_quantity(quota.cpu)
    elif shape is not None:
        cpu = (share * shape[0] * 1000).to_integral_value(ROUND_FLOOR) / 1000
    else:
        return None
    if quota.memory is not None:
        memory = parse_quantity(quota.memory)
    elif shape is not None:
        mib = (share * Decimal(str(shape[1])) * 1024).to_integral_value(ROUND_FLOOR)
        memory = mib * MIB
    else:
        return None
    return Amounts(quota.gpus, cpu, memory)


def cpu_text(quota: PoolQuota, value: Decimal) -> str:
    if quota.cpu is not None:
        return quota.cpu
    return str(int(value)) if value == value.to_integral_value() else f"{int(value * 1000)}m"


def memory_text(quota: PoolQuota, value: Decimal) -> str:
    if quota.memory is not None:
        return quota.memory
    if value % GIB == 0:
        return f"{int(value / GIB)}Gi"
    return f"{int(value / MIB)}Mi"


def usable(mine: Amounts, others: list[Amounts], limit: int | None, borrowing: bool) -> Amounts:
    """The most a team can be admitted on one pool: its nominal quota, plus what it may
    borrow from the cohort (the others' nominal quotas, GPUs capped by borrowingLimit)."""
    if not borrowing:
        return mine
    gpus = sum(o.gpus for o in others)
    return Amounts(
        mine.gpus + (gpus if limit is None else min(limit, gpus)),
        mine.cpu + sum((o.cpu for o in others), Decimal(0)),
        mine.memory + sum((o.memory for o in others), Decimal(0)),
    )


def team_quotas(quotas: Quotas, env: str) -> dict[str, dict[str, PoolQuota]]:
    """team -> pool -> quota in this environment (teams without one left out)."""
    return {team: envs[env] for team, envs in sorted(quotas.teams.items()) if env in envs}


def kueue_plan(
    quotas: Quotas, env: str, cloud: str, pools: dict[str, PoolPlan]
) -> KueuePlan | None:
    """The environment's Kueue objects; None when no team has a quota here."""
    teams = team_quotas(quotas, env)
    if not teams:
        return None
    queues = []
    for team, by_pool in teams.items():
        flavors = []
        for name, quota in by_pool.items():
            pool = pools[name]  # validation refuses a pool that is not in the environment
            shape = machine_shape(pool.accelerator, cloud, pool.machine_type)
            amount = amounts(quota, pool.gpus_per_node, shape)
            assert amount is not None, f"no machine shape for {pool.machine_type}"
            flavors.append(
                FlavorQuota(
                    pool=name,
                    flavor=flavor_name(env, name),
                    gpus=quota.gpus,
                    cpu=cpu_text(quota, amount.cpu),
                    memory=memory_text(quota, amount.memory),
                    borrowing_limit=quota.borrowing_limit if quotas.borrowing else None,
                    resource=pool.gpu_resource,
                    per_gpu=pool.devices_per_gpu,
                )
            )
        # Kueue tries a ClusterQueue's flavors in order: the pools' order, as Terraform's
        flavors.sort(key=lambda f: list(pools).index(f.pool))
        queues.append(TeamQueue(team, cluster_queue_name(env, team), team, tuple(flavors)))
    classes: tuple[tuple[str, int, str], ...] = ()
    serving_class = training_class = None
    if quotas.priorities is not None:
        serving_class = scoped_name(env, "serving")
        training_class = scoped_name(env, "training")
        classes = (
            (serving_class, quotas.priorities.serving, "modelkiln: serving predictors"),
            (training_class, quotas.priorities.training, "modelkiln: training jobs"),
        )
    return KueuePlan(
        cohort=scoped_name(env, "teams", 253) if quotas.borrowing else None,
        teams=tuple(queues),
        priority_classes=classes,
        serving_class=serving_class,
        training_class=training_class,
        serving_queues=quotas.serving_queues,
    )


def _covers(plan: KueuePlan, team: str | None, pool: PoolPlan | None, gpus: int) -> str | None:
    """The team's LocalQueue when the workload uses GPUs of a pool its quota covers: only
    GPU workloads are queued (each flavor is a GPU pool's nodes)."""
    if pool is None or not gpus:
        return None
    queue = next((t for t in plan.teams if t.team == team), None)
    if queue is None or all(f.pool != pool.name for f in queue.flavors):
        return None
    return queue.local_queue


def with_queues(
    models: tuple[ModelPlan, ...], plan: KueuePlan | None, mode: str
) -> tuple[ModelPlan, ...]:
    """The models with the queue and priority class their GPU workloads name. Serving
    only with quotas.servingQueues in standard mode: KServe copies the InferenceService's
    labels to the predictor Deployment there, which Kueue's deployment integration sees."""
    if plan is None:
        return models
    out = []
    for model in models:
        training, serving = model.training, model.serving
        if training is not None:
            queue = _covers(plan, model.owner, training.pool, training.gpus)
            if queue is not None:
                training = replace(training, queue=queue, priority_class=plan.training_class)
        if serving is not None and plan.serving_queues and mode == "standard":
            queue = _covers(plan, model.owner, serving.pool, serving.gpus)
            if queue is not None:
                serving = replace(serving, queue=queue, priority_class=plan.serving_class)
        out.append(replace(model, training=training, serving=serving))
    return tuple(out)
