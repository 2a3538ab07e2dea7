"""KServe InferenceService (serving.kserve.io/v1beta1) of one Model in one environment."""

from __future__ import annotations

from typing import Any

from compiler.plan import GPU_RESOURCE, MANAGED_BY, EnvironmentPlan, ModelPlan


def labels(env: EnvironmentPlan, model: ModelPlan) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "modelplane.io/environment": env.name,
        "modelplane.io/model": model.name,
    }


def inference_service(env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    serving = model.serving
    assert serving is not None
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    if serving.cpu:
        requests["cpu"] = serving.cpu
    if serving.memory:
        requests["memory"] = limits["memory"] = serving.memory
    if serving.gpus and serving.pool is not None:
        limits[GPU_RESOURCE] = serving.gpus  # only on GPU pools
    predictor_model: dict[str, Any] = {"modelFormat": {"name": serving.format}}
    if serving.runtime:
        predictor_model["runtime"] = serving.runtime
    predictor_model["storageUri"] = serving.storage_uri
    resources: dict[str, Any] = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    if resources:
        predictor_model["resources"] = resources
    replicas = serving.replicas
    predictor: dict[str, Any] = {
        "minReplicas": replicas.min,
        "maxReplicas": replicas.max,
        "scaleMetric": "rps",
        "scaleTarget": replicas.scale_target_rps,
    }
    if serving.canary_percent is not None:
        predictor["canaryTrafficPercent"] = serving.canary_percent
    placement = serving.placement
    if placement.node_selector:
        predictor["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        predictor["tolerations"] = [
            {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
            for t in placement.tolerations
        ]
    predictor["model"] = predictor_model
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": model.name,
            "namespace": env.namespace,
            "labels": {**labels(env, model), "modelplane.io/version": model.version},
        },
        "spec": {"predictor": predictor},
    }
