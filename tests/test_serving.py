"""Serving manifests: KServe InferenceService, drift monitor, kustomization; the replica
formula's invariants; serving capacity validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.load import load
from compiler.plan import GPU_RESOURCE, POOL_LABEL
from compiler.slo import HIGH_AVAILABILITY, MIN_CAPACITY_RPS, replicas
from compiler.validate import validate
from tests.conftest import UPSTREAM, copy_example
from tests.kfp_helpers import files_of, plan_of, yaml_docs

ISVC_SCHEMA = UPSTREAM / "kserve" / "inferenceservice.v1beta1.strict.schema.json"


def _isvc(example: str, env: str, model: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml_docs(
        files_of(example)[f"{env}/models/{model}/serving/inferenceservice.yaml"]
    )[0]
    return doc


@pytest.mark.parametrize("example", ["quickstart", "multi-cloud"])
def test_inference_services_pass_the_strict_kserve_schema(example: str) -> None:
    schema = json.loads(ISVC_SCHEMA.read_text())
    paths = [p for p in files_of(example) if p.endswith("inferenceservice.yaml")]
    assert paths
    for path in paths:
        jsonschema.validate(yaml_docs(files_of(example)[path])[0], schema)


def test_gpu_model_on_its_pool() -> None:
    isvc = _isvc("quickstart", "prod", "fraud-detector")
    predictor = isvc["spec"]["predictor"]
    assert isvc["metadata"]["namespace"] == "ml-prod"
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "pytorch"} and model["runtime"] == "kserve-torchserve"
    # standard mode with a canary: the predictor serves the stable version, the canary 3.2.0
    assert model["storageUri"] == "gs://acme-models/fraud-detector/3.1.0"
    (canary,) = isvc["spec"]["canary"]
    assert canary["predictor"]["model"]["storageUri"] == "gs://acme-models/fraud-detector/3.2.0"
    assert canary["trafficPercent"] == 10
    assert model["resources"]["limits"] == {"cpu": "4", "memory": "16Gi", GPU_RESOURCE: 1}
    assert model["resources"]["requests"] == {"cpu": "4", "memory": "16Gi"}
    assert predictor["nodeSelector"] == {POOL_LABEL: "l4-serve"}
    pool = next(p for p in plan_of("quickstart").environments[0].pools if p.name == "l4-serve")
    tolerations = {(t["key"], t["value"], t["effect"]) for t in predictor["tolerations"]}
    assert tolerations == {(t.key, t.value, t.effect) for t in pool.taints}
    # 400 rps at 70 % of 60 rps per replica: 10 replicas, +1 for 99.9 %; min 2
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 11)
    (metric,) = predictor["autoScaling"]["metrics"]
    assert metric["external"]["target"] == {"type": "Value", "value": "42"}
    assert "scaleMetric" not in predictor and "canaryTrafficPercent" not in predictor


def test_cpu_model_has_no_gpu_and_no_placement() -> None:
    predictor = _isvc("multi-cloud", "prod-us", "churn")["spec"]["predictor"]
    assert GPU_RESOURCE not in json.dumps(predictor)
    assert "nodeSelector" not in predictor and "tolerations" not in predictor
    assert predictor["model"]["modelFormat"] == {"name": "xgboost"}


def test_direct_rollout_has_no_canary_and_overrides_apply() -> None:
    predictor = _isvc("multi-cloud", "staging", "recommender")["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 2)  # staging override
    eu = _isvc("multi-cloud", "prod-eu", "recommender")["spec"]["predictor"]
    assert eu["nodeSelector"] == {POOL_LABEL: "t4-serve"}


def test_serving_only_model_uses_its_storage_uri() -> None:
    spec = _isvc("multi-cloud", "prod-us", "ticket-router")["spec"]
    assert spec["predictor"]["model"]["storageUri"] == "hf://acme/ticket-router-distilbert:5b0d7a4"
    canary = spec["canary"][0]["predictor"]["model"]
    assert canary["storageUri"] == "hf://acme/ticket-router-distilbert:9f2c1e7"


def test_kustomization_lists_every_resource_of_the_folder() -> None:
    files = files_of("multi-cloud")
    for path, data in files.items():
        if not path.endswith("serving/kustomization.yaml"):
            continue
        folder = path.rsplit("/", 1)[0]
        listed = yaml_docs(data)[0]["resources"]
        present = sorted(p.rsplit("/", 1)[1] for p in files if p.startswith(folder + "/"))
        assert sorted([*listed, "kustomization.yaml"]) == present


def test_drift_monitor() -> None:
    docs = yaml_docs(files_of("multi-cloud")["prod-us/models/recommender/serving/drift.yaml"])
    config_map, cron_job = docs
    assert cron_job["kind"] == "CronJob" and cron_job["spec"]["schedule"] == "30 * * * *"
    config = json.loads(config_map["data"]["drift.json"])
    assert config["method"] == "wasserstein" and config["features"] == ["dwell_seconds"]
    assert config["reference"] == {
        "uri": "s3://acme-lake/clicks/",
        "format": "parquet",
        "version": "2026-11-20",
    }
    assert "def wasserstein" in config_map["data"]["drift_measures.py"]
    container = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/modelkiln/drift:0.2.0"
    assert "pytorchjob" not in json.dumps(docs)  # no stray cross-talk between back ends


@given(
    throughput=st.floats(0.1, 1e5),
    capacity=st.floats(MIN_CAPACITY_RPS, 1e4),  # less is refused (MK232)
    availability=st.floats(0.01, 99.999),
)
def test_derived_replicas_always_carry_the_peak(
    throughput: float, capacity: float, availability: float
) -> None:
    r = replicas(throughput, capacity, availability)
    assert 1 <= r.min <= r.max
    assert r.max * capacity >= throughput
    assert r.scale_target_rps >= 1
    if availability >= HIGH_AVAILABILITY:
        assert r.min >= 2
        # losing one replica at peak still leaves enough at full capacity
        assert (r.max - 1) * capacity >= throughput


def test_given_max_replicas_too_low_for_the_peak(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "quickstart")
    model = repo / "models" / "fraud-detector.yaml"
    text = model.read_text().replace(
        "    capacityRps: 60\n",
        "    capacityRps: 60\n    autoscaling: {minReplicas: 1, maxReplicas: 3}\n",
    )
    model.write_text(text)
    (diag,) = validate(load(repo)).diagnostics
    assert diag.code == "MK312" and "at least 7" in str(diag.hint)
    lines = text.splitlines()
    assert diag.line == next(i for i, s in enumerate(lines, 1) if "maxReplicas: 3" in s)


def test_pool_too_small_names_pool_and_shortfall(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "quickstart")
    pools = repo / "pools" / "gpu-pools.yaml"
    pools.write_text(pools.read_text().replace("maxNodes: 12", "maxNodes: 8"))
    (diag,) = validate(load(repo)).diagnostics
    assert diag.code == "MK313" and diag.file == "pools/gpu-pools.yaml"
    # 11 stable replicas at maxReplicas and the canary's 1 (10 % of 400 rps at 42 rps)
    assert "'l4-serve'" in diag.message and "(fraud-detector 12): 4 short" in diag.message
    assert diag.hint == "raise maxNodes to 12, or lower the models' maxReplicas"


ARGO_SCHEMA = UPSTREAM / "argo-cd" / "application.v1alpha1.strict.schema.json"


def test_argocd_applications_pass_the_strict_schema() -> None:
    schema = json.loads(ARGO_SCHEMA.read_text())
    files = files_of("multi-cloud")
    apps = {p: yaml_docs(d)[0] for p, d in files.items() if p.startswith("argocd/")}
    assert sorted(apps) == ["argocd/prod-eu.yaml", "argocd/prod-us.yaml", "argocd/staging.yaml"]
    for app in apps.values():
        jsonschema.validate(app, schema)
    staging = apps["argocd/staging.yaml"]["spec"]
    assert staging["source"] == {
        "repoURL": "https://github.com/acme/ml-specs.git",
        "targetRevision": "deploy",
        "path": "deploy/staging",
    }
    assert staging["destination"] == {
        "namespace": "ml-staging",
        "server": "https://staging-gke.acme.internal",
    }
    assert apps["argocd/prod-us.yaml"]["spec"]["destination"]["name"] == "ml-prod-eks"
    # the path it watches holds a kustomization of every served model's serving folder
    # (and the environment's Kueue objects)
    kustomization = yaml_docs(files["staging/kustomization.yaml"])[0]
    assert kustomization["resources"] == [
        "kueue",
        "models/churn/serving",
        "models/recommender/serving",
        "models/ticket-router/serving",
    ]
    assert not any(p.startswith("argocd/") for p in files_of("quickstart"))
