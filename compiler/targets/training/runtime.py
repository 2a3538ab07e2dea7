"""The namespaced TrainingRuntime modelkiln renders into each environment whose TrainJobs do
not name a ClusterTrainingRuntime: the upstream `torch-distributed` runtime plus the settings
that make one launch one attempt (docs/training.md, "The runtime").

Upstream behaviour this encodes (kubeflow/trainer v2.3.0, kubernetes-sigs/jobset v0.12.0,
the JobSet version Trainer v2.3.0's go.mod pins):
- manifests/base/runtimes/torch_distributed.yaml sets no Job backoffLimit, so Kubernetes'
  default 6 applies: a failed pod is retried up to six times inside one launch;
- Trainer's JobSet builder (pkg/runtime/framework/plugins/jobset/builder.go) sets the trainer
  job's replicas to 1 and the `node` container's image, command, args and env, and forces
  nothing about retries;
- JobSet's webhook defaults the pod restartPolicy to OnFailure (pkg/webhooks/jobset_webhook.go,
  Default) and, without failurePolicy, the controller fails the JobSet on the first failed Job
  (pkg/controllers/failure_policy.go); ours says maxRestarts 0 explicitly.
"""

from __future__ import annotations

from typing import Any

from compiler.plan import MANAGED_BY, EnvironmentPlan
from compiler.targets.training import pod

RUNTIME_NAME = "modelkiln-torch"
API_VERSION = "trainer.kubeflow.org/v1alpha1"
API_GROUP = "trainer.kubeflow.org"
# The replicatedJob and container Trainer's `trainer` fields target (labelled as the trainer
# step), named as in the upstream torch-distributed runtime so that patches fit both.
NODE = "node"
ANCESTOR_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"
# Never run: every TrainJob sets its own image; the upstream runtime's image at v2.3.0.
PLACEHOLDER_IMAGE = "pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime"
FILE = "training/runtime.yaml"


def uses_own_runtime(env: EnvironmentPlan) -> bool:
    """Whether some Model of the environment launches a TrainJob on modelkiln's runtime."""
    return any(
        m.training is not None
        and m.training.launched
        and m.training.backend == "trainer"
        and m.training.runtime is None
        for m in env.models
    )


def training_runtime(env: EnvironmentPlan) -> dict[str, Any]:
    """torch-distributed, with one attempt per launch: backoffLimit 0, restartPolicy Never,
    failurePolicy.maxRestarts 0; and hardened containers."""
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": pod.pod_security_context_default(),
        "containers": [
            {
                "name": NODE,
                "image": PLACEHOLDER_IMAGE,
                "securityContext": pod.container_security_context(),
            }
        ],
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingRuntime",
        "metadata": {
            "name": RUNTIME_NAME,
            "namespace": env.namespace,
            "labels": {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "modelkiln.dev/environment": env.name,
                "trainer.kubeflow.org/framework": "torch",
            },
        },
        "spec": {
            "mlPolicy": {"numNodes": 1, "torch": {}},
            "template": {
                "spec": {
                    "failurePolicy": {"maxRestarts": 0},
                    "replicatedJobs": [
                        {
                            "name": NODE,
                            "template": {
                                "metadata": {"labels": {ANCESTOR_LABEL: "trainer"}},
                                "spec": {"backoffLimit": 0, "template": {"spec": pod_spec}},
                            },
                        }
                    ],
                }
            },
        },
    }
