"""GPU counts and monthly cost estimates from the catalog (shared by validation and plans)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from compiler import catalog


@dataclass(frozen=True)
class PoolCost:
    pool: str
    gpus_min: int
    gpus_max: int
    usd_per_gpu_hour: float

    @property
    def monthly_min(self) -> float:
        return self.gpus_min * self.usd_per_gpu_hour * catalog.HOURS_PER_MONTH

    @property
    def monthly_max(self) -> float:
        return self.gpus_max * self.usd_per_gpu_hour * catalog.HOURS_PER_MONTH


def gpu_price(
    accelerator: str, cloud: str, overrides: Mapping[Any, Mapping[Any, float]]
) -> float | None:
    """USD per GPU-hour: the Project's override, else the catalog's; None if not offered."""
    override = overrides.get(accelerator, {}).get(cloud)
    if override is not None:
        return float(override)
    offer = catalog.offering(accelerator, cloud)
    return offer.usd_per_gpu_hour if offer else None


def pool_cost(
    name: str,
    accelerator: str,
    gpus_per_node: int,
    min_nodes: int,
    max_nodes: int,
    cloud: str,
    overrides: Mapping[Any, Mapping[Any, float]],
) -> PoolCost | None:
    price = gpu_price(accelerator, cloud, overrides)
    if price is None:
        return None
    return PoolCost(name, min_nodes * gpus_per_node, max_nodes * gpus_per_node, price)
