"""Distributed training: a Kubeflow Training Operator PyTorchJob (kubeflow.org/v1)."""

from __future__ import annotations

from typing import Any

from compiler.plan import MANAGED_BY, EnvironmentPlan, ModelPlan
from compiler.targets import kubernetes


def job_name(model: ModelPlan) -> str:
    return f"{model.name}-train"[:63].rstrip("-")


def pytorchjob(env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    """Master + (nodes - 1) workers, each one node's worth of GPUs, on the training pool.

    torchrun settings come from the Training Operator (nprocPerNode = GPUs per node; it sets
    PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK and the master address); the strategy is
    passed as MODELKILN_DISTRIBUTED_STRATEGY for the training code to pick up.
    """
    training = model.training
    assert training is not None and training.distributed
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "modelkiln.dev/environment": env.name,
        "modelkiln.dev/model": model.name,
    }
    env_vars: list[dict[str, Any]] = [
        {"name": k, "value": v} for k, v in sorted(dict(training.env).items())
    ]
    env_vars += [
        {"name": "MODELKILN_DISTRIBUTED_STRATEGY", "value": training.strategy or "ddp"},
        {"name": "MODELKILN_ENVIRONMENT", "value": env.name},
        {"name": "MODELKILN_MODEL", "value": model.name},
        {"name": "MODELKILN_MODEL_VERSION", "value": model.version},
        {"name": "MODELKILN_STORAGE_URI", "value": model.storage_uri},
    ]
    env_vars += [{"name": k, "value": v} for k, v in model.tracking]
    env_vars += [
        {"name": s.env, "valueFrom": {"secretKeyRef": {"name": s.name, "key": s.key}}}
        for s in training.secrets
    ]
    container: dict[str, Any] = {
        "name": "pytorch",
        "image": training.image,
        "env": env_vars,
        "resources": kubernetes.resources(training.cpu, training.memory, training.gpus),
    }
    if training.command:
        container["command"] = list(training.command)
    if training.args:
        container["args"] = list(training.args)
    pod_spec: dict[str, Any] = {"containers": [container]}
    pod_spec |= kubernetes.placement(training.placement)

    def replica(count: int) -> dict[str, Any]:
        return {
            "replicas": count,
            "restartPolicy": "OnFailure",
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        }

    run_policy: dict[str, Any] = {"cleanPodPolicy": "None", "backoffLimit": training.retries}
    if training.timeout_seconds:
        run_policy["activeDeadlineSeconds"] = training.timeout_seconds
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": job_name(model), "namespace": env.namespace, "labels": labels},
        "spec": {
            "nprocPerNode": str(training.gpus) if training.gpus else "auto",
            "runPolicy": run_policy,
            "pytorchReplicaSpecs": {
                "Master": replica(1),
                "Worker": replica(training.nodes - 1),
            },
        },
    }
