"""Project `quotas`: the teams' shares of the GPU pools per environment, rendered as Kueue
ClusterQueues (docs/training.md, "Quotas (Kueue)")."""

from __future__ import annotations

from pydantic import Field

from compiler.spec.base import Strict
from compiler.spec.types import Name, Quantity

INT32_MAX = 2**31 - 1  # WorkloadPriorityClass.value is an int32


class PoolQuota(Strict):
    """One team's share of one GpuPool in one environment (a flavor of its ClusterQueue)."""

    gpus: int = Field(ge=0, le=100000, description="nominalQuota of nvidia.com/gpu.")
    cpu: Quantity | None = Field(
        default=None,
        description="nominalQuota of cpu; default: the pool machine's vCPUs × gpus / gpusPerNode.",
    )
    memory: Quantity | None = Field(
        default=None,
        description="nominalQuota of memory; default: the pool machine's memory × gpus / "
        "gpusPerNode.",
    )
    borrowing_limit: int | None = Field(
        default=None,
        ge=0,
        le=100000,
        description="GPUs the team may borrow on this pool beyond gpus (quotas.borrowing "
        "only); absent: as many as the other teams leave idle.",
    )


class Priorities(Strict):
    """WorkloadPriorityClass values: serving above training, so that Kueue preempts batch
    work first."""

    serving: int = Field(ge=-INT32_MAX - 1, le=INT32_MAX)
    training: int = Field(ge=-INT32_MAX - 1, le=INT32_MAX)


class Quotas(Strict):
    borrowing: bool = Field(
        default=False,
        description="In each environment the teams' ClusterQueues share one cohort, so "
        "a team may use the quota others leave idle.",
    )
    serving_queues: bool = Field(
        default=False,
        description="GPU predictors in standard mode carry the team's queue label too "
        "(Kueue's deployment integration admits each pod).",
    )
    priorities: Priorities | None = Field(
        default=None, description="WorkloadPriorityClasses of serving and training."
    )
    teams: dict[Name, dict[Name, dict[Name, PoolQuota]]] = Field(
        default_factory=dict,
        description="team (a Model's metadata.owner) -> environment -> GpuPool -> quota.",
    )
