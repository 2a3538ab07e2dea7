"""Legacy distributed training: a Kubeflow Training Operator v1 PyTorchJob (kubeflow.org/v1),
for clusters still on it (Project training.backend: pytorchjob)."""

from __future__ import annotations

from typing import Any

from compiler.plan import EnvironmentPlan, ModelPlan
from compiler.targets import kubernetes
from compiler.targets.training import pod


def pytorchjob(env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    """Master + (nodes - 1) workers on the training pool, one node's worth of GPUs each.

    The Training Operator sets PET_NNODES, PET_NPROC_PER_NODE (from nprocPerNode), PET_NODE_RANK
    and the master address for torchrun; the strategy is MODELKILN_DISTRIBUTED_STRATEGY. The
    job never retries itself (restartPolicy Never, runPolicy.backoffLimit 0): the pipeline's
    retry policy is the only one (docs/training.md, "Retries").
    """
    training = model.training
    assert training is not None
    container: dict[str, Any] = {
        "name": "pytorch",  # the Training Operator finds the container by this name
        "image": training.image,
        "env": pod.env_vars(env, model),
        "resources": kubernetes.resources(training.cpu, training.memory, training.gpus),
        "securityContext": pod.container_security_context(training),
    }
    if training.command:
        container["command"] = list(training.command)
    if training.args:
        container["args"] = list(training.args)
    pod_spec: dict[str, Any] = {"containers": [container]}
    if training.shm:
        container["volumeMounts"] = [pod.shm_mount()]
        pod_spec["volumes"] = [pod.shm_volume(training)]
    pod_spec["securityContext"] = pod.pod_security_context(training)
    pod_spec |= kubernetes.placement(training.placement)
    labels = kubernetes.model_labels(env, model)

    def replica(count: int) -> dict[str, Any]:
        return {
            "replicas": count,
            "restartPolicy": "Never",
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        }

    run_policy: dict[str, Any] = {"cleanPodPolicy": "None", "backoffLimit": 0}
    if training.timeout_seconds:
        run_policy["activeDeadlineSeconds"] = training.timeout_seconds
    replicas = {"Master": replica(1)}
    if training.nodes > 1:
        replicas["Worker"] = replica(training.nodes - 1)
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {
            "name": pod.job_name(model),
            "namespace": env.namespace,
            "labels": labels | kubernetes.kueue_labels(training.queue, training.priority_class),
        },
        "spec": {
            "nprocPerNode": str(training.processes_per_node),
            "runPolicy": run_policy,
            "pytorchReplicaSpecs": replicas,
        },
    }
