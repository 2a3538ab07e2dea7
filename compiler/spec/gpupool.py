"""kind: GpuPool: a node pool of one accelerator type, per environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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


class GpuPool(Strict):
    api_version: Literal["modelkiln.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["GpuPool"]
    metadata: Metadata
    spec: GpuPoolSpec
