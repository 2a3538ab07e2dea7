"""The hardening of a predictor's pod, written into the InferenceService.

KServe builds the predictor's pod from `spec.predictor` (its PodSpec fields) and the
container from `spec.predictor.model` strategically merged over the ServingRuntime's
container (kserve v0.20.0 pkg/controller/v1beta1/inferenceservice/components/predictor.go
buildPodSpec, utils.MergeServingRuntimeAndInferenceServiceSpecs), so what is set here lands
on the pod, over the runtime's values. The logger agent KServe injects copies the model
container's securityContext (pkg/webhook/admission/pod/agent_injector.go).

No runAsUser: the runtime images choose their user (the KServe Python servers and the
storage initializer have USER 1000; kserve-torchserve, -tritonserver and -tensorflow-serving
set runAsUser 1000 and kserve-openvino 5000 in their ClusterServingRuntimes), and their files
belong to it; runAsNonRoot makes the kubelet refuse an image that would run as root.
"""

from __future__ import annotations

from typing import Any

from compiler.plan import ServingPlan
from compiler.targets import kubernetes

# Paths a runtime writes besides /tmp, read from its image, mounted as emptyDirs so that the
# root filesystem can be read-only. TorchServe (pytorch/serve's Dockerfile: WORKDIR and
# TEMP under /home/model-server) unpacks models into TEMP and writes logs to ./logs; the
# Hugging Face server (vLLM, torch) caches under the home of its user kserve.
RUNTIME_SCRATCH: dict[str, tuple[str, ...]] = {
    "kserve-torchserve": ("/home/model-server/tmp", "/home/model-server/logs"),
    "kserve-huggingfaceserver": ("/home/kserve/.cache", "/home/kserve/.triton"),
}
# The ClusterServingRuntime KServe picks when `runtime` is not given (v0.20.0
# config/runtimes: the autoSelect runtime of the highest priority for the format).
AUTO_SELECTED = {"pytorch": "kserve-torchserve", "huggingface": "kserve-huggingfaceserver"}


def scratch_paths(serving: ServingPlan) -> list[str]:
    runtime = serving.runtime or AUTO_SELECTED.get(serving.format, "")
    return ["/tmp", *RUNTIME_SCRATCH.get(runtime, ())]


def predictor_pod(serving: ServingPlan, *, knative: bool = False) -> dict[str, Any]:
    """The predictor's PodSpec fields: no service account token (nothing in the pod calls
    the Kubernetes API), scratch volumes, and the pod securityContext.

    Knative refuses a pod securityContext unless the cluster enables
    `kubernetes.podspec-securitycontext` (knative-v1.21.1 pkg/apis/serving/fieldmask.go
    PodSpecMask), so in Knative mode the container's securityContext carries it all.
    """
    volumes, _ = kubernetes.scratch(scratch_paths(serving))
    pod: dict[str, Any] = {"automountServiceAccountToken": False, "volumes": volumes}
    if not knative:
        pod["securityContext"] = kubernetes.pod_security_context()
    return pod


def read_only_root(serving: ServingPlan) -> bool:
    """False for a container that gets GPUs: where the NVIDIA Container Toolkit injects them
    through CDI, its nvidia-cdi-hook writes into the container's root filesystem and fails
    on a read-only one, so the container is never created (kserve/kserve#5711, merged
    2026-06-23, turned it off in KServe's LLMInferenceService presets for that reason).
    The other isolation fields stay; docs/serving.md lists the check left unmet."""
    return serving.pool is None or serving.gpus == 0


def predictor_container(serving: ServingPlan) -> dict[str, Any]:
    """The model container's securityContext and the mounts of its scratch volumes."""
    _, mounts = kubernetes.scratch(scratch_paths(serving))
    context = kubernetes.container_security_context(read_only_root=read_only_root(serving))
    return {"securityContext": context, "volumeMounts": mounts}
