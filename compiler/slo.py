"""Replicas from an SLO: one formula, used by validation and by the serving back end.

    target      = floor(capacityRps × 0.7)               requests per second per replica: a
                                                         replica's safe load, a whole number
                                                         (Knative's and KServe's targets are)
    needed      = ceil(throughputRps / target)           serves the peak at safe load
    maxReplicas = needed + 1 when availability ≥ 99.9 %  (the peak survives losing one)
                  needed otherwise
    minReplicas = 2 when availability ≥ 99.9 % (a replica loss never empties the service),
                  1 otherwise; never above maxReplicas

The autoscaler is given `target` so that the 70 % headroom is counted exactly once: Knative
with target-utilization-percentage 100, KEDA as its threshold (docs/serving.md). A capacity
below 1/0.7 rps gives a target of 0, which validation refuses (MK232).
Given `autoscaling` replaces min and max; the target is derived either way.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

SAFE_UTILISATION = 0.7
HIGH_AVAILABILITY = 99.9
MIN_CAPACITY_RPS = 1 / SAFE_UTILISATION  # the least capacity whose target is 1 rps


@dataclass(frozen=True)
class Replicas:
    min: int
    max: int
    scale_target_rps: int  # the per-replica target the autoscaler is given
    derived: bool  # True when computed from the SLO, False when given in autoscaling


@functools.lru_cache(maxsize=1024)  # a few capacities, asked for by every model
def scale_target(capacity_rps: float) -> int:
    """floor(capacityRps × 0.7), exactly: 0.7 × 70 is 49, not 48.99999999999999."""
    safe = Decimal(repr(capacity_rps)) * Decimal(repr(SAFE_UTILISATION))
    return int(safe.to_integral_value(rounding=ROUND_FLOOR))


def needed_replicas(throughput_rps: float, target_rps: int) -> int:
    """Replicas that carry throughputRps with none above target_rps (a target below 1 is
    refused by validation; 1 keeps this total)."""
    return max(1, math.ceil(throughput_rps / max(1, target_rps)))


def canary_replicas(throughput_rps: float, target_rps: int, percent: int) -> int:
    """Fixed replicas of a Standard-mode canary that carry its share of the peak at target."""
    return needed_replicas(throughput_rps * percent / 100, target_rps)


def replicas(
    throughput_rps: float,
    capacity_rps: float,
    availability: float,
    given: tuple[int, int] | None = None,
) -> Replicas:
    target = scale_target(capacity_rps)
    if given is not None:
        return Replicas(given[0], given[1], target, derived=False)
    high = availability >= HIGH_AVAILABILITY
    needed = needed_replicas(throughput_rps, target)
    maximum = needed + 1 if high else needed
    minimum = min(maximum, 2 if high else 1)
    return Replicas(minimum, maximum, target, derived=True)
