"""Drift monitoring of one Model in one environment: a CronJob that runs drift_job.py
(shipped in a ConfigMap next to its JSON config) and pushes the scores to a Pushgateway,
where Prometheus scrapes them and the PrometheusRule alerts on them."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from compiler.plan import EnvironmentPlan, ModelPlan
from compiler.targets.serving.inferenceservice import labels

MOUNT = "/etc/modelkiln"
PACKAGES = ["numpy>=1.26", "pyarrow>=15"]


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
        "reference": (
            {"uri": reference.uri, "format": reference.format, "version": reference.version}
            if reference
            else None
        ),
        "inputs": {"uri": drift.inputs, "format": "jsonl"},
        "pushgateway": drift.pushgateway,
    }


def drift_manifests(env: EnvironmentPlan, model: ModelPlan) -> list[dict[str, Any]]:
    """The ConfigMap (script and config) and the CronJob that runs it on schedule."""
    assert model.serving is not None and model.serving.drift is not None
    drift = model.serving.drift
    name = f"{model.name}-drift"[:52].rstrip("-")  # CronJob names leave room for job suffixes
    script = resources.files(__package__).joinpath("drift_job.py").read_text("utf-8")
    meta = {"name": name, "namespace": env.namespace, "labels": labels(env, model)}
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {
            "drift.json": json.dumps(drift_config(env, model), indent=2, sort_keys=True) + "\n",
            "drift_job.py": script,
        },
    }
    run = f"python {MOUNT}/drift_job.py --config {MOUNT}/drift.json"
    if env.images.install_packages:
        run = "pip install --quiet " + " ".join(f"'{p}'" for p in PACKAGES) + " && " + run
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
                        "metadata": {"labels": labels(env, model)},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "drift",
                                    "image": env.images.drift,
                                    "command": ["sh", "-c", run],
                                    "volumeMounts": [
                                        {"name": "drift", "mountPath": MOUNT, "readOnly": True}
                                    ],
                                }
                            ],
                            "volumes": [{"name": "drift", "configMap": {"name": name}}],
                        },
                    },
                }
            },
        },
    }
    return [config_map, cron_job]
