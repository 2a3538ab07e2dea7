"""KServe LLMInferenceService (serving.kserve.io/v1alpha2) of a language model, where the
environment declares the LLMInferenceService controller (serving.llm.api: llminferenceservice).

Target: KServe master @ aaac4e294dae (2026-08-21), the CRD in shared/conformance. v1alpha2 is
the storage version since v0.17.0 (v0.17.0 … v0.20.0 all store v1alpha2), but no release tag
has this CRD: `spec.scaling.keda` (direct KEDA triggers, #5839) is newer than v0.20.0, whose
scaling offered only the WVA autoscaler. So the target is that commit, not a release.

What the controller does with this object (pkg/controller/v1alpha2/llmisvc at that commit):
- config_merge.go combineBaseRefsConfig: with no `worker`, it merges the well-known preset
  kserve-config-llm-template, then (router.scheduler / router.route present)
  kserve-config-llm-scheduler and kserve-config-llm-router-route, then this spec, each a
  strategic merge patch of LLMInferenceServiceSpec (mergeSpecs): our container `main` merges
  over the preset's by name, its args replace (the preset has none) and reach
  `vllm serve /mnt/models ... $@`; the preset adds --served-model-name spec.model.name and
  --tensor-parallel-size spec.parallelism.tensor, mounts /dev/shm (NCCL), /home, /tmp, /models.
- workload_single_node.go: Deployment <name>-kserve with the merged template, replicas
  spec.replicas; labels and annotations prefixed kueue.x-k8s.io copied to it and its pods.
- scaling.go expectedDirectScaledObject: spec.scaling.keda → ScaledObject <name>-kserve-keda
  on that Deployment, min/max from spec.scaling, the triggers as given.
tests/kserve_llmisvc_consumer.py re-implements this and the tests judge the result.
"""

from __future__ import annotations

from typing import Any

from compiler.plan import EnvironmentPlan, ModelPlan, ServingPlan
from compiler.serving_metrics import deployment_pods
from compiler.targets import kubernetes
from compiler.targets.serving import hardening, vllm

API_VERSION = "serving.kserve.io/v1alpha2"
KIND = "LLMInferenceService"
MAIN_CONTAINER = "main"  # the preset's vLLM container, merged by name


def _container(serving: ServingPlan) -> dict[str, Any]:
    llm = serving.llm
    assert llm is not None
    gpus = serving.gpus if serving.pool is not None else 0
    container: dict[str, Any] = {
        "name": MAIN_CONTAINER,
        "args": vllm.engine_args(llm, tensor_parallel=False),
    }
    resources = kubernetes.resources(
        serving.cpu, serving.memory, gpus, cpu_limit=True, gpu_resource=serving.gpu_resource
    )
    if resources:
        container["resources"] = resources
    # the preset mounts emptyDirs at /home (HOME), /tmp, /models (HF_HUB_CACHE) and /dev/shm;
    # the root filesystem stays writable on GPUs, as in the preset (hardening.read_only_root)
    read_only = hardening.read_only_root(serving)
    container["securityContext"] = kubernetes.container_security_context(read_only_root=read_only)
    return container


def _template(serving: ServingPlan) -> dict[str, Any]:
    template: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "containers": [_container(serving)],
        "securityContext": kubernetes.pod_security_context(),
    }
    return template | kubernetes.placement(serving.placement)


def _scaling(env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    """spec.scaling with direct KEDA triggers where the environment has Prometheus, else
    spec.replicas fixed at the SLO's need (the two are exclusive, a CEL rule of the CRD)."""
    serving = model.serving
    assert serving is not None
    if serving.deployment.prometheus is None:
        return {"replicas": serving.replicas.max}
    # the main Deployment <name>-kserve's pods (workload_single_node.go mainDeploymentName)
    pods = deployment_pods(f"{model.name}-kserve")
    triggers = vllm.keda_triggers(serving, env.namespace, pods)
    return {
        "scaling": {
            "minReplicas": serving.replicas.min,
            "maxReplicas": serving.replicas.max,
            "keda": {"triggers": triggers},
        }
    }


def llm_inference_service(env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    serving = model.serving
    assert serving is not None and serving.llm is not None
    spec: dict[str, Any] = {
        # name: what clients ask for (vLLM's --served-model-name), the model's name as the
        # InferenceService serves it under
        "model": {"uri": serving.storage_uri, "name": model.name},
        **_scaling(env, model),
        "parallelism": {"tensor": serving.llm.tensor_parallel},
        "template": _template(serving),
        # empty sections select the presets: the default Gateway, an HTTPRoute to it, and
        # the llm-d endpoint picker with its InferencePool (config-llm-router-route,
        # config-llm-scheduler); without them the model gets no route
        "router": {"gateway": {}, "route": {}, "scheduler": {}},
    }
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": model.name,
            "namespace": env.namespace,
            "labels": {
                **kubernetes.model_labels(env, model),
                "modelkiln.dev/version": model.version,
                **kubernetes.kueue_labels(serving.queue, serving.priority_class),
            },
        },
        "spec": spec,
    }
