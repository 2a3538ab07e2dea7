"""The built-in accelerator catalog (accelerators.json): per cloud, identifiers, machine
types with their GPU counts and shapes (vCPUs, memory), GPU memory, node labels and dated
on-demand prices."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

HOURS_PER_MONTH = 730  # the cloud providers' own convention for monthly estimates


@dataclass(frozen=True)
class MachineShape:
    """A machine type's vCPUs and memory, as the cloud states them (GiB on AWS and Azure,
    GB as Google writes it on GCP; docs/catalog.md)."""

    vcpus: int
    memory_gib: float


@dataclass(frozen=True)
class Offering:
    accelerator: str
    cloud: str
    accelerator_id: str
    node_label: tuple[str, str]
    machine_types: tuple[tuple[str, int], ...]  # (name, gpus), in order of preference
    usd_per_gpu_hour: float
    price_read_on: str
    # (name, shape) for every machine type above, same order; a tuple keeps Offering hashable
    machine_shapes: tuple[tuple[str, MachineShape], ...] = ()

    def default_machine_type(self, gpus: int) -> str | None:
        return next((name for name, n in self.machine_types if n == gpus), None)

    def gpus_of(self, machine_type: str) -> int | None:
        return next((n for name, n in self.machine_types if name == machine_type), None)

    def machine_shape(self, machine_type: str) -> MachineShape | None:
        """vCPUs and memory of a listed machine type, or None when it is not listed."""
        return next((s for name, s in self.machine_shapes if name == machine_type), None)


@cache
def raw() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("accelerators.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def accelerators() -> list[str]:
    return sorted(raw()["accelerators"])


@cache
def offering(accelerator: str, cloud: str) -> Offering | None:
    """What the cloud offers of this accelerator, or None when it does not offer it."""
    entry = raw()["accelerators"][accelerator]["clouds"][cloud]
    if not entry["offered"]:
        return None
    return Offering(
        accelerator=accelerator,
        cloud=cloud,
        accelerator_id=entry["acceleratorId"],
        node_label=(entry["nodeLabel"]["key"], entry["nodeLabel"]["value"]),
        machine_types=tuple((m["name"], int(m["gpus"])) for m in entry["machineTypes"]),
        usd_per_gpu_hour=float(entry["usdPerGpuHour"]),
        price_read_on=entry["priceReadOn"],
        machine_shapes=tuple(
            (m["name"], MachineShape(vcpus=int(m["vcpus"]), memory_gib=float(m["memoryGiB"])))
            for m in entry["machineTypes"]
        ),
    )


def not_offered_reason(accelerator: str, cloud: str) -> str:
    entry = raw()["accelerators"][accelerator]["clouds"][cloud]
    return str(entry.get("reason", f"{cloud} does not offer {accelerator}"))


def clouds_offering(accelerator: str) -> list[str]:
    return [c for c in ("aws", "azure", "gcp") if offering(accelerator, c) is not None]


def gpu_memory_gib(accelerator: str) -> float:
    """Memory of one GPU of this accelerator as it is sold (80 for an H100 80GB)."""
    return float(raw()["accelerators"][accelerator]["gpuMemoryGiB"])


def usable_memory_gib(accelerator: str) -> float:
    """Memory of one GPU as CUDA reports its total (what vLLM multiplies by
    gpu_memory_utilization): less than the sold size (docs/catalog.md, "GPU memory")."""
    return float(raw()["accelerators"][accelerator]["usableMemoryMiB"]) / 1024
