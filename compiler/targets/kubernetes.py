"""Pieces of Kubernetes pod specs that several back ends write the same way: resources,
placement on a pool, and the hardening every pod gets (docs/serving.md, "Hardened pods")."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from compiler.plan import GPU_RESOURCE, MANAGED_BY, EnvironmentPlan, ModelPlan, Placement
from compiler.quota_plan import PRIORITY_LABEL, QUEUE_LABEL

# The user and group modelkiln's own images run as (images/drift/Dockerfile): not root, and
# at least 10000, above the UIDs of host users and of common images (checkov CKV_K8S_40).
NON_ROOT_UID = 10001
RUNTIME_DEFAULT_SECCOMP = {"type": "RuntimeDefault"}


def model_labels(env: EnvironmentPlan, model: ModelPlan) -> dict[str, str]:
    """The labels of every object and pod modelkiln renders for a Model."""
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "modelkiln.dev/environment": env.name,
        "modelkiln.dev/model": model.name,
    }


def kueue_labels(queue: str | None, priority_class: str | None) -> dict[str, str]:
    """Kueue's queue and priority labels (kueue v0.19.2 pkg/controller/constants/
    constants.go), on the object Kueue admits; empty when the workload is not queued."""
    if queue is None:
        return {}
    out = {QUEUE_LABEL: queue}
    if priority_class is not None:
        out[PRIORITY_LABEL] = priority_class
    return out


def resources(
    cpu: str | None, memory: str | None, gpus: int, *, cpu_limit: bool = False
) -> dict[str, Any]:
    """Container resources: CPU request (and the same limit with cpu_limit); memory request
    = limit; GPUs as a limit (for an extended resource Kubernetes sets the request to the
    limit)."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    if cpu:
        requests["cpu"] = cpu
        if cpu_limit:
            limits["cpu"] = cpu
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


# --- hardening -------------------------------------------------------------------------


def pod_security_context(run_as: int | None = None) -> dict[str, Any]:
    """A pod's securityContext: never root, the runtime's default seccomp profile; with
    run_as, that numeric user and group (and fsGroup, so volumes are writable by it).

    Without run_as the image's USER applies, and the kubelet refuses to start a container
    whose image runs as root (runAsNonRoot)."""
    out: dict[str, Any] = {"runAsNonRoot": True}
    if run_as is not None:
        out |= {"runAsUser": run_as, "runAsGroup": run_as, "fsGroup": run_as}
    out["seccompProfile"] = dict(RUNTIME_DEFAULT_SECCOMP)
    return out


def container_security_context(*, read_only_root: bool = True) -> dict[str, Any]:
    """A container's securityContext: no privilege escalation, no capabilities, a read-only
    root filesystem (scratch space comes from emptyDir volumes) unless read_only_root is
    False, never root, and the default seccomp profile (also where pod-level fields are not
    allowed, as in Knative)."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
        "seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP),
    }


def _volume_name(path: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root"
    return ("scratch-" + slug)[:63].rstrip("-")


def scratch(
    paths: Sequence[str], size_limit: str | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """emptyDir volumes, and their mounts, for the writable paths of a container whose root
    filesystem is read-only."""
    empty_dir: dict[str, Any] = {"sizeLimit": size_limit} if size_limit else {}
    volumes = [{"name": _volume_name(p), "emptyDir": dict(empty_dir)} for p in paths]
    mounts = [{"name": _volume_name(p), "mountPath": p} for p in paths]
    return volumes, mounts


def pull_policy(image: str) -> str:
    """Always for an image named by tag (a tag can move: the node re-checks the registry),
    IfNotPresent for one pinned by digest (its content cannot change)."""
    return "IfNotPresent" if "@sha256:" in image else "Always"
