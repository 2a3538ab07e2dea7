"""Replicas from an SLO: one formula, used by validation and by the serving back end.

    per_replica = capacityRps × 0.7                      (a replica's safe load)
    needed      = ceil(throughputRps / per_replica)      (serves the peak at safe load)
    maxReplicas = needed + 1 when availability ≥ 99.9 %  (the peak survives losing one)
                  needed otherwise
    minReplicas = 2 when availability ≥ 99.9 % (a replica loss never empties the service),
                  1 otherwise; never above maxReplicas
    scaleTarget = floor(per_replica) requests per second per replica (KServe scaleMetric rps)

Given `autoscaling` replaces min and max; the scale target is derived either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SAFE_UTILISATION = 0.7
HIGH_AVAILABILITY = 99.9


@dataclass(frozen=True)
class Replicas:
    min: int
    max: int
    scale_target_rps: int
    derived: bool  # True when computed from the SLO, False when given in autoscaling


def needed_replicas(throughput_rps: float, capacity_rps: float) -> int:
    return max(1, math.ceil(throughput_rps / (capacity_rps * SAFE_UTILISATION) - 1e-9))


def scale_target(capacity_rps: float) -> int:
    return max(1, math.floor(capacity_rps * SAFE_UTILISATION))


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
    needed = needed_replicas(throughput_rps, capacity_rps)
    maximum = needed + 1 if high else needed
    minimum = min(maximum, 2 if high else 1)
    return Replicas(minimum, maximum, target, derived=True)
