"""KServe InferenceService (serving.kserve.io/v1beta1) of one Model in one environment.

The deployment mode is always written (the stock inferenceservice-config defaults to
Knative, the Go default is Standard: the manifest must not depend on which). Per mode
(docs/serving.md; KServe v0.20.0, Knative 1.21.1):

- knative: scaleMetric rps and scaleTarget = the per-replica target, with
  target-utilization-percentage 100 so that Knative does not take 70 % of it again;
  canaryTrafficPercent for a canary;
- standard: autoScaling with KEDA on the request rate from Prometheus (threshold = the
  per-replica target), or the HPA on CPU utilisation without Prometheus; a canary is an entry
  of spec.canary serving the new version while spec.predictor serves the stable one.
"""

from __future__ import annotations

from typing import Any

from compiler.deployment import (
    AUTOSCALER_ANNOTATION,
    CANARY_NAME,
    MODE_ANNOTATION,
    MODE_VALUES,
)
from compiler.llm.scaling import concurrency_target
from compiler.plan import EnvironmentPlan, ModelPlan, ServingPlan
from compiler.serving_metrics import deployment_pods
from compiler.slo import SAFE_UTILISATION
from compiler.targets import kubernetes
from compiler.targets.serving import hardening, vllm

# Knative's per-revision override of its target utilisation (knative/serving knative-v1.21.1
# pkg/apis/autoscaling/register.go); KServe copies predictor annotations to the revision.
TARGET_UTILIZATION = "autoscaling.knative.dev/target-utilization-percentage"
RATE_WINDOW = "2m"  # at least four samples at a 30 s scrape interval
MODEL_CONTAINER = "kserve-container"
STABLE_VERSION = "modelkiln.dev/stable-version"  # what spec.predictor serves during a canary
# A language model: KServe's Hugging Face server with its vLLM backend (kserve v0.20.0
# config/runtimes/kserve-huggingfaceserver.yaml), named so that no other runtime of the
# huggingface format is auto-selected; --backend=vllm makes the server refuse to start without
# vLLM instead of serving with transformers (huggingfaceserver __main__.py load_model).
LLM_RUNTIME = "kserve-huggingfaceserver"
LLM_FORMAT = "huggingface"


def _model(serving: ServingPlan, storage_uri: str) -> dict[str, Any]:
    model: dict[str, Any] = {"modelFormat": {"name": serving.format}}
    if serving.runtime:
        model["runtime"] = serving.runtime
    if serving.llm is not None:
        # the runtime's own args come first: --model_name={{.Name}} (KServe appends these,
        # utils.go MergeRuntimeContainers); hf:// and object storage both go through the
        # storage initializer into /mnt/models, the server's default --model_dir
        model["modelFormat"] = {"name": LLM_FORMAT}
        model["runtime"] = serving.runtime or LLM_RUNTIME
        model["args"] = ["--backend=vllm", *vllm.engine_args(serving.llm)]
    model["storageUri"] = storage_uri
    # CPU and memory limits = requests, GPUs as limits: KServe merges these key by key over
    # the ServingRuntime's container (limits.cpu 1, memory 2Gi in the stock runtimes), so a
    # request without its own limit would meet the runtime's limit and the pod be refused
    gpus = serving.gpus if serving.pool is not None else 0  # GPUs only on GPU pools
    resources = kubernetes.resources(
        serving.cpu, serving.memory, gpus, cpu_limit=True, gpu_resource=serving.gpu_resource
    )
    if resources:
        model["resources"] = resources
    return model | hardening.predictor_container(serving)


def requests_query(model: ModelPlan) -> str:
    """Requests per second summed over the stable predictor's pods: the SLO's request
    counter (compiler/serving_metrics.py) restricted by pod name. Standard mode names the
    Deployment <isvc>-predictor, so its pods are <isvc>-predictor-<hash>-<suffix>; a
    canary's, <isvc>-canary-predictor-..., are left out by the anchored regex."""
    serving = model.serving
    assert serving is not None
    pods = f'pod=~"{deployment_pods(f"{model.name}-predictor")}"'
    return f"sum(rate({serving.metrics.requests(pods)}[{RATE_WINDOW}]))"


def autoscaler_class(serving: ServingPlan) -> str | None:
    """The autoscalerClass annotation: none (Knative mode), the deployment's, or for a
    language model without Prometheus `none` (fixed replicas: the HPA's CPU utilisation does
    not follow a GPU-bound vLLM's load; docs/llm.md)."""
    autoscaler = serving.deployment.autoscaler
    if autoscaler == "knative":
        return None
    return "none" if serving.llm is not None and autoscaler == "hpa" else autoscaler


def _llm_autoscaling(namespace: str, model: ModelPlan) -> dict[str, Any]:
    serving = model.serving
    assert serving is not None and serving.llm is not None
    autoscaler = serving.deployment.autoscaler
    if autoscaler == "knative":
        target = concurrency_target(serving.llm.concurrent_sequences)
        return {
            "annotations": {TARGET_UTILIZATION: "100"},
            "scaleMetric": "concurrency",
            "scaleTarget": target,
        }
    if autoscaler == "keda":
        metrics = []
        pods = deployment_pods(f"{model.name}-predictor")
        for m in vllm.scaling_metrics(serving, namespace, pods):
            metric = {
                "backend": "prometheus",
                "serverAddress": serving.deployment.prometheus,
                "query": m["query"],
            }
            external = {"metric": metric, "target": {"type": "Value", "value": m["threshold"]}}
            metrics.append({"type": "External", "external": external})
        return {"autoScaling": {"metrics": metrics}}
    return {}  # autoscalerClass none: fixed replicas


def _autoscaling(namespace: str, model: ModelPlan) -> dict[str, Any]:
    serving = model.serving
    assert serving is not None
    if serving.llm is not None:
        return _llm_autoscaling(namespace, model)
    deployment = serving.deployment
    target = serving.replicas.scale_target_rps
    if deployment.autoscaler == "knative":
        # desired pods = ceil(rps / (scaleTarget × TU/100)), TU = 100: the target is the
        # safe load itself (Knative's default TU of 70 % would apply the headroom twice)
        return {
            "annotations": {TARGET_UTILIZATION: "100"},
            "scaleMetric": "rps",
            "scaleTarget": target,
        }
    if deployment.autoscaler == "keda":
        # KServe passes only target.value to KEDA as its threshold, and KEDA's default
        # metric type is AverageValue: replicas = ceil(query / threshold)
        external = {
            "metric": {
                "backend": "prometheus",
                "serverAddress": deployment.prometheus,
                "query": requests_query(model),
            },
            "target": {"type": "Value", "value": str(target)},
        }
        return {"autoScaling": {"metrics": [{"type": "External", "external": external}]}}
    utilisation = round(SAFE_UTILISATION * 100)
    cpu = {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": utilisation}}
    return {"autoScaling": {"metrics": [{"type": "Resource", "resource": cpu}]}}


def _canary(serving: ServingPlan) -> list[dict[str, Any]]:
    canary = serving.canary
    if canary is None:
        return []
    # KServe's webhook: a named canary, no autoscaling of its own, minReplicas ≤ the stable's
    predictor: dict[str, Any] = {"name": CANARY_NAME, "minReplicas": canary.replicas}
    predictor |= kubernetes.placement(serving.placement)
    predictor |= hardening.predictor_pod(serving)  # a canary is always Standard mode
    # the CRD requires the canary model's container name; KServe's is kserve-container,
    # the name its runtime merge keeps (constants.InferenceServiceContainerName)
    predictor["model"] = {"name": MODEL_CONTAINER, **_model(serving, canary.storage_uri)}
    return [{"trafficPercent": canary.percent, "predictor": predictor}]


def inference_service(env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    serving = model.serving
    assert serving is not None
    deployment = serving.deployment
    annotations = {MODE_ANNOTATION: MODE_VALUES[deployment.mode]}
    klass = autoscaler_class(serving)
    if klass is not None:
        annotations[AUTOSCALER_ANNOTATION] = klass
    low = serving.replicas.max if klass == "none" else serving.replicas.min
    predictor: dict[str, Any] = {"minReplicas": low, "maxReplicas": serving.replicas.max}
    predictor |= _autoscaling(env.namespace, model)
    if deployment.mode == "knative" and serving.canary_percent is not None:
        predictor["canaryTrafficPercent"] = serving.canary_percent
    predictor |= kubernetes.placement(serving.placement)
    predictor |= hardening.predictor_pod(serving, knative=deployment.mode == "knative")
    if serving.drift is not None:
        from compiler.targets.serving.drift import request_logger

        predictor["logger"] = request_logger(model)
    predictor["model"] = _model(serving, serving.stable_storage_uri or serving.storage_uri)
    spec: dict[str, Any] = {"predictor": predictor}
    canary = _canary(serving)
    if canary:
        spec["canary"] = canary
        assert serving.canary is not None
        annotations[STABLE_VERSION] = serving.canary.stable_version
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": model.name,
            "namespace": env.namespace,
            "labels": {
                **kubernetes.model_labels(env, model),
                "modelkiln.dev/version": model.version,
                # KServe copies the ISVC's labels to the predictor Deployment and its pod
                # template (kserve v0.20.0 components/predictor.go:498-507,
                # deployment_reconciler.go:140-158); Kueue's deployment webhook copies the
                # queue labels to the pods (kueue v0.19.2 deployment_webhook.go:95-104)
                **kubernetes.kueue_labels(serving.queue, serving.priority_class),
            },
            "annotations": annotations,
        },
        "spec": spec,
    }
