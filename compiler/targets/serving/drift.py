"""Drift monitoring of one Model in one environment: the predictor's request logger, and a
CronJob that runs drift_job.py (shipped in a ConfigMap with its modules and JSON config) on
what the logger wrote, and pushes the scores to a Pushgateway, where Prometheus scrapes them
and the PrometheusRule alerts on them."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from compiler import drift as flow
from compiler.plan import EnvironmentPlan, ModelPlan
from compiler.targets import kubernetes

MOUNT = "/etc/modelkiln"
# The job and the modules it imports, shipped side by side in the ConfigMap.
SCRIPTS = ("drift_job.py", "drift_logs.py", "drift_measures.py", "drift_push.py")
RUN_AS = kubernetes.NON_ROOT_UID  # the USER of images/drift/Dockerfile


@cache
def scripts() -> dict[str, str]:
    """The job's files (read once: every drift ConfigMap carries the same)."""
    folder = resources.files(__package__)
    return {name: folder.joinpath(name).read_text("utf-8") for name in SCRIPTS}


def request_logger(model: ModelPlan) -> dict[str, Any]:
    """The predictor's `logger` (KServe v0.20 LoggerSpec): every request, stored as JSON
    where the drift job reads. The webhook (pkg/apis/serving/v1beta1/component.go
    validateLogger) refuses a storage without path, parameters and key."""
    assert model.serving is not None and model.serving.drift is not None
    log = model.serving.drift.logger
    spec: dict[str, Any] = {
        "mode": "request",
        "url": log.url,
        "storage": {
            "path": flow.LOG_PATH,
            "parameters": {"format": flow.LOG_FORMAT},
            "key": log.storage_key,
            "serviceAccountName": log.service_account,
        },
        "batchSize": log.batch_size,
    }
    if log.batch_interval is not None:
        spec["batchInterval"] = log.batch_interval
    return spec


def drift_config(env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    assert model.serving is not None and model.serving.drift is not None
    drift = model.serving.drift
    reference = drift.reference
    return {
        "model": model.name,
        "environment": env.name,
        "method": drift.method,
        "threshold": drift.threshold,
        "features": list(drift.features),
        "categorical": list(drift.categorical),
        "reference": (
            {"uri": reference.uri, "format": reference.format, "version": reference.version}
            if reference
            else None
        ),
        "inputs": {
            "uri": drift.inputs,
            "format": "kserve",
            "windowSeconds": drift.window_seconds,
            "columns": list(drift.columns) if drift.columns is not None else None,
        },
        "pushgateway": drift.pushgateway,
    }


def _pod(name: str, env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    """The job's pod: hardened (no token, non-root, read-only root, /tmp scratch), bounded."""
    assert model.serving is not None and model.serving.drift is not None
    drift = model.serving.drift
    image = env.images.drift
    volumes, mounts = kubernetes.scratch(["/tmp"], size_limit="1Gi")
    container = {
        "name": "drift",
        "image": image,
        "imagePullPolicy": kubernetes.pull_policy(image),
        # no shell and no package installs: the image holds numpy and pyarrow
        "command": ["python", f"{MOUNT}/drift_job.py", "--config", f"{MOUNT}/drift.json"],
        "resources": kubernetes.resources(drift.cpu, drift.memory, 0, cpu_limit=True),
        "securityContext": kubernetes.container_security_context(),
        "volumeMounts": [{"name": "drift", "mountPath": MOUNT, "readOnly": True}, *mounts],
    }
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,  # reads buckets, never the Kubernetes API
        "securityContext": kubernetes.pod_security_context(RUN_AS),
        "containers": [container],
        "volumes": [{"name": "drift", "configMap": {"name": name}}, *volumes],
    }
    if drift.service_account is not None:
        pod["serviceAccountName"] = drift.service_account
    return pod


def drift_manifests(env: EnvironmentPlan, model: ModelPlan) -> list[dict[str, Any]]:
    """The ConfigMap (scripts and config) and the CronJob that runs them on schedule."""
    assert model.serving is not None and model.serving.drift is not None
    drift = model.serving.drift
    name = f"{model.name}-drift"[:52].rstrip("-")  # CronJob names leave room for job suffixes
    meta = {"name": name, "namespace": env.namespace, "labels": kubernetes.model_labels(env, model)}
    config = json.dumps(drift_config(env, model), indent=2, sort_keys=True) + "\n"
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {"drift.json": config, **scripts()},
    }
    cron_job = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta,
        "spec": {
            "schedule": drift.schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 1,
                    "template": {
                        "metadata": {"labels": kubernetes.model_labels(env, model)},
                        "spec": _pod(name, env, model),
                    },
                }
            },
        },
    }
    return [config_map, cron_job]
