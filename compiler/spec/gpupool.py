"""kind: GpuPool: a node pool of one accelerator type, per environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from compiler.spec.base import Metadata, Strict
from compiler.spec.types import Line

Accelerator = Literal[
    "nvidia-t4",
    "nvidia-l4",
    "nvidia-a10g",
    "nvidia-a100-40gb",
    "nvidia-a100-80gb",
    "nvidia-h100-80gb",
    "nvidia-h200",
]


class GpuSharing(Strict):
    """How the pool's GPUs are shared (NVIDIA GPU operator conventions, docs/llm.md): every
    GPU cut into MIG slices of one profile, or time-sliced between several pods."""

    mig: Line | None = Field(
        default=None,
        description="MIG profile every GPU of the pool is partitioned into, e.g. 1g.10gb; "
        "must exist on the accelerator (catalog).",
    )
    time_slicing: int | None = Field(
        default=None, ge=2, le=48, description="Pods sharing each GPU by time-slicing."
    )

    @model_validator(mode="after")
    def _one_way(self) -> GpuSharing:
        if (self.mig is None) == (self.time_slicing is None):
            raise PydanticCustomError(
                "MK244",
                "sharing needs exactly one of mig or timeSlicing",
                {
                    **({"field": "timeSlicing"} if self.time_slicing is not None else {}),
                    "at_key": True,
                    "hint": "mig: 1g.10gb partitions each GPU; timeSlicing: 4 shares it by time",
                },
            )
        return self


class GpuPoolSpec(Strict):
    accelerator: Accelerator
    gpus_per_node: int = Field(ge=1, le=16)
    machine_type: Line | None = Field(
        default=None, description="Default: from the catalog for the environment's cloud."
    )
    min_nodes: int = Field(default=0, ge=0)
    max_nodes: int = Field(ge=1, le=1000)
    spot: bool = False
    disk_gb: int | None = Field(default=None, ge=10, le=65536)
    environments: list[Line] | None = Field(
        default=None, description="Environments this pool exists in; default: every one."
    )
    sharing: GpuSharing | None = Field(
        default=None, description="MIG partitions or time-slicing; absent: whole GPUs."
    )


class GpuPool(Strict):
    api_version: Literal["modelkiln.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["GpuPool"]
    metadata: Metadata
    spec: GpuPoolSpec
