"""A Kubeflow Trainer v2.3 TrainJob (trainer.kubeflow.org/v1alpha1) per launched Model.

`spec.trainer` carries what Trainer sets on the runtime's `node` container (image, command,
args, env, resources, numNodes, numProcPerNode -> PET_NPROC_PER_NODE); what Trainer has no
field for (pool placement, /dev/shm, securityContext, pod labels) goes through one
`spec.runtimePatches` entry, a strategic merge patch onto the runtime's JobSet
(pkg/apis/trainer/v1alpha1/trainjob_types.go, pkg/runtime/core/trainingruntime.go @ v2.3.0).
The webhook's rules on patches (pkg/runtime/framework/plugins/jobset/jobset.go @ v2.3.0): the
manager is a domain-prefixed path, replicatedJob and container names exist in the runtime,
and `env` is never patched on the `node` container (it goes in trainer.env).
"""

from __future__ import annotations

from typing import Any

from compiler.plan import EnvironmentPlan, ModelPlan
from compiler.targets import kubernetes
from compiler.targets.training import pod
from compiler.targets.training.runtime import API_GROUP, API_VERSION, NODE, RUNTIME_NAME

PATCH_MANAGER = "modelkiln.dev/compiler"


def runtime_ref(model: ModelPlan) -> dict[str, str]:
    training = model.training
    assert training is not None
    if training.runtime is not None:
        return {"apiGroup": API_GROUP, "kind": "ClusterTrainingRuntime", "name": training.runtime}
    return {"apiGroup": API_GROUP, "kind": "TrainingRuntime", "name": RUNTIME_NAME}


def _pod_patch(env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    """The `node` replicatedJob's pod: labels, placement, /dev/shm and securityContext."""
    training = model.training
    assert training is not None
    container: dict[str, Any] = {"name": NODE}
    spec: dict[str, Any] = {}
    if training.shm:
        container["volumeMounts"] = [pod.shm_mount()]
        spec["volumes"] = [pod.shm_volume(training)]
    container["securityContext"] = pod.container_security_context(training)
    spec["containers"] = [container]
    spec["securityContext"] = pod.pod_security_context(training)
    spec |= kubernetes.placement(training.placement)
    return {"metadata": {"labels": kubernetes.model_labels(env, model)}, "spec": spec}


def trainjob(env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    training = model.training
    assert training is not None
    trainer: dict[str, Any] = {"image": training.image}
    if training.command:
        trainer["command"] = list(training.command)
    if training.args:
        trainer["args"] = list(training.args)
    trainer["env"] = pod.env_vars(env, model)
    trainer["numNodes"] = training.nodes
    trainer["numProcPerNode"] = training.processes_per_node
    resources = kubernetes.resources(training.cpu, training.memory, training.gpus)
    if resources:
        trainer["resourcesPerNode"] = resources
    patch = {
        "manager": PATCH_MANAGER,
        "trainingRuntimeSpec": {
            "template": {
                "spec": {
                    "replicatedJobs": [
                        {"name": NODE, "template": {"spec": {"template": _pod_patch(env, model)}}}
                    ]
                }
            }
        },
    }
    spec: dict[str, Any] = {"runtimeRef": runtime_ref(model)}
    if training.timeout_seconds:
        spec["activeDeadlineSeconds"] = training.timeout_seconds
    spec["trainer"] = trainer
    spec["runtimePatches"] = [patch]
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainJob",
        "metadata": {
            "name": pod.job_name(model),
            "namespace": env.namespace,
            "labels": kubernetes.model_labels(env, model)
            | kubernetes.kueue_labels(training.queue, training.priority_class),
        },
        "spec": spec,
    }


def launched_job(env: EnvironmentPlan, model: ModelPlan) -> tuple[str, dict[str, Any]]:
    """The file name and manifest of the Model's launched job, by the Project's backend."""
    training = model.training
    assert training is not None and training.launched
    if training.backend == "pytorchjob":
        from compiler.targets.training.pytorchjob import pytorchjob

        return "pytorchjob.yaml", pytorchjob(env, model)
    return "trainjob.yaml", trainjob(env, model)
