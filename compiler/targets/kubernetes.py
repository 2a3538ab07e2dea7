"""Pieces of Kubernetes pod specs that several back ends write the same way."""

from __future__ import annotations

from typing import Any

from compiler.plan import GPU_RESOURCE, Placement


def resources(cpu: str | None, memory: str | None, gpus: int) -> dict[str, Any]:
    """Container resources: CPU request; memory request = limit; GPUs as a limit (for an
    extended resource Kubernetes sets the request to the limit)."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    if cpu:
        requests["cpu"] = cpu
    if memory:
        requests["memory"] = limits["memory"] = memory
    if gpus:
        limits[GPU_RESOURCE] = gpus
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def placement(where: Placement) -> dict[str, Any]:
    """nodeSelector and tolerations of a pod on a pool (empty on CPU nodes)."""
    out: dict[str, Any] = {}
    if where.node_selector:
        out["nodeSelector"] = dict(where.node_selector)
    if where.tolerations:
        out["tolerations"] = [
            {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
            for t in where.tolerations
        ]
    return out
