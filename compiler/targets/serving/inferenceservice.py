"""KServe InferenceService (serving.kserve.io/v1beta1) of one Model in one environment."""

from __future__ import annotations

from typing import Any

from compiler.plan import MANAGED_BY, EnvironmentPlan, ModelPlan
from compiler.targets import kubernetes
from compiler.targets.serving import hardening


def labels(env: EnvironmentPlan, model: ModelPlan) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "modelkiln.dev/environment": env.name,
        "modelkiln.dev/model": model.name,
    }


def inference_service(env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    serving = model.serving
    assert serving is not None
    gpus = serving.gpus if serving.pool is not None else 0  # GPUs only on GPU pools
    predictor_model: dict[str, Any] = {"modelFormat": {"name": serving.format}}
    if serving.runtime:
        predictor_model["runtime"] = serving.runtime
    predictor_model["storageUri"] = serving.storage_uri
    container = kubernetes.resources(serving.cpu, serving.memory, gpus, cpu_limit=True)
    if container:
        predictor_model["resources"] = container
    predictor_model |= hardening.predictor_container(serving)
    replicas = serving.replicas
    predictor: dict[str, Any] = {
        "minReplicas": replicas.min,
        "maxReplicas": replicas.max,
        "scaleMetric": "rps",
        "scaleTarget": replicas.scale_target_rps,
    }
    if serving.canary_percent is not None:
        predictor["canaryTrafficPercent"] = serving.canary_percent
    predictor |= kubernetes.placement(serving.placement)
    predictor |= hardening.predictor_pod(serving, knative=env.serving_mode == "knative")
    if serving.drift is not None:
        from compiler.targets.serving.drift import request_logger

        predictor["logger"] = request_logger(model)
    predictor["model"] = predictor_model
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": model.name,
            "namespace": env.namespace,
            "labels": {**labels(env, model), "modelkiln.dev/version": model.version},
        },
        "spec": {"predictor": predictor},
    }
