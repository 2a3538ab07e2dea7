"""Deployment modes: what each mode's InferenceService says, checked against KServe v0.20.0's
webhook and against the autoscalers' own arithmetic (tests/kserve_consumer.py)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.deployment import serving_rollout
from compiler.load import load
from compiler.slo import HIGH_AVAILABILITY, MIN_CAPACITY_RPS, SAFE_UTILISATION
from compiler.spec.model import ModelSpec
from compiler.spec.project import Environment
from compiler.targets.serving.inferenceservice import inference_service
from compiler.validate import validate
from tests.conftest import UPSTREAM, copy_example
from tests.kfp_helpers import files_of, plan_of
from tests.kserve_consumer import (
    AUTOSCALER_CLASS,
    KNATIVE_TU,
    MODE,
    desired_replicas,
    per_pod_target,
    replica_bounds,
    webhook_problems,
)
from tests.serving_helpers import every_inference_service, inference_services

SCHEMA = json.loads(
    (UPSTREAM / "kserve" / "inferenceservice.v1beta1.strict.schema.json").read_text()
)
RENDERED = every_inference_service()


@pytest.mark.parametrize("label,isvc", RENDERED, ids=[label for label, _ in RENDERED])
def test_every_inference_service_passes_the_strict_schema_and_the_webhook(
    label: str, isvc: dict[str, Any]
) -> None:
    jsonschema.validate(isvc, SCHEMA)
    assert webhook_problems(isvc) == []


@pytest.mark.parametrize("label,isvc", RENDERED, ids=[label for label, _ in RENDERED])
def test_each_mode_writes_only_what_it_reads(label: str, isvc: dict[str, Any]) -> None:
    annotations = isvc["metadata"]["annotations"]
    predictor = isvc["spec"]["predictor"]
    if annotations[MODE] == "Knative":
        # canaryTrafficPercent is read by the ksvc reconciler only; spec.canary is refused
        assert AUTOSCALER_CLASS not in annotations and "canary" not in isvc["spec"]
        assert "autoScaling" not in predictor
        assert predictor["annotations"] == {KNATIVE_TU: "100"}
        assert predictor["scaleMetric"] == "rps" and predictor["scaleTarget"] >= 1
    else:
        assert annotations[MODE] == "Standard"
        assert annotations[AUTOSCALER_CLASS] in ("keda", "hpa")
        for ignored in ("canaryTrafficPercent", "scaleMetric", "scaleTarget", "annotations"):
            assert ignored not in predictor, ignored


def test_the_examples_name_their_modes() -> None:
    isvcs = inference_services(files_of("multi-cloud"))
    modes = {
        (path.split("/")[0], isvc["metadata"]["annotations"][MODE]) for path, isvc in isvcs.items()
    }
    assert modes == {("staging", "Standard"), ("prod-us", "Standard"), ("prod-eu", "Knative")}
    classes = {
        path.split("/")[0]: isvc["metadata"]["annotations"].get(AUTOSCALER_CLASS)
        for path, isvc in isvcs.items()
    }
    assert classes == {"staging": "hpa", "prod-us": "keda", "prod-eu": None}


def _isvc(env: str, model: str) -> dict[str, Any]:
    return inference_services(files_of("multi-cloud"))[
        f"{env}/models/{model}/serving/inferenceservice.yaml"
    ]


def test_knative_target_counts_the_headroom_once() -> None:
    predictor = _isvc("prod-eu", "recommender")["spec"]["predictor"]
    # capacityRps 70 in prod-eu: floor(0.7 × 70) = 49 rps per pod with utilisation 100 %;
    # Knative's default 70 % would make it 34.3
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("rps", 49)
    assert predictor["annotations"][KNATIVE_TU] == "100"
    assert predictor["canaryTrafficPercent"] == 5
    # knative keeps the previous revision itself: the predictor serves the new version
    assert predictor["model"]["storageUri"] == "s3://acme-models/recommender/5.1.0"


def test_keda_scales_the_stable_predictor_on_its_request_rate() -> None:
    isvc = _isvc("prod-us", "recommender")
    (metric,) = isvc["spec"]["predictor"]["autoScaling"]["metrics"]
    assert metric == {
        "type": "External",
        "external": {
            "metric": {
                "backend": "prometheus",
                "serverAddress": "http://prometheus-operated.monitoring.svc:9090",
                # the SLO's request counter (standard mode), stable pods only
                "query": 'sum(rate(request_predict_seconds_count{namespace="ml-prod", '
                'model_name="recommender", '
                'pod=~"recommender-predictor-[a-z0-9]+-[a-z0-9]+"}[2m]))',
            },
            "target": {"type": "Value", "value": "84"},  # floor(0.7 × 120)
        },
    }


def test_cpu_utilisation_without_prometheus() -> None:
    (metric,) = _isvc("staging", "churn")["spec"]["predictor"]["autoScaling"]["metrics"]
    assert metric == {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
    }


def test_standard_canary_serves_the_new_version_beside_the_stable_one() -> None:
    isvc = _isvc("prod-us", "recommender")
    assert isvc["metadata"]["annotations"]["modelkiln.dev/stable-version"] == "5.0.2"
    stable = isvc["spec"]["predictor"]
    assert stable["model"]["storageUri"] == "s3://acme-models/recommender/5.0.2"
    (canary,) = isvc["spec"]["canary"]
    assert canary["trafficPercent"] == 5
    predictor = canary["predictor"]
    assert predictor["name"] == "canary" and predictor["model"]["name"] == "kserve-container"
    assert predictor["model"]["storageUri"] == "s3://acme-models/recommender/5.1.0"
    # 5 % of 900 rps at 84 rps per pod: one pod, on the same pool as the stable ones
    assert predictor["minReplicas"] == 1
    assert predictor["nodeSelector"] == stable["nodeSelector"]


def test_no_canary_once_promoted_or_with_a_direct_rollout() -> None:
    churn = _isvc("prod-us", "churn")  # stableVersion = version
    assert "canary" not in churn["spec"]
    assert churn["spec"]["predictor"]["model"]["storageUri"] == "s3://acme-models/churn/2.0.3"
    assert "canary" not in _isvc("staging", "recommender")["spec"]  # direct in staging


# --- the replica property, through the consumers' arithmetic ---------------------------------


def _render(
    capacity: float, throughput: float, availability: float, scaler: str, percent: int | None
) -> dict[str, Any]:
    """The quickstart model with these numbers, rendered for one autoscaler; everything
    derived by the compiler's own functions (compiler.deployment, compiler.slo)."""
    plan = plan_of("quickstart")
    env_plan = plan.environments[0]
    model = env_plan.models[0]
    assert model.serving is not None
    rollout: dict[str, Any] = {"strategy": "direct"}
    if percent is not None:
        rollout = {"strategy": "canary", "canaryPercent": percent, "stableVersion": "3.1.0"}
    spec = ModelSpec.model_validate(
        {
            "version": "3.2.0",
            "framework": "pytorch",
            "serving": {
                "capacityRps": capacity,
                "slo": {
                    "latencyP99Ms": 100,
                    "availability": availability,
                    "throughputRps": throughput,
                },
                "rollout": rollout,
            },
        }
    )
    serving_env: dict[str, Any] = {"mode": "knative" if scaler == "knative" else "standard"}
    if scaler == "keda":
        serving_env["prometheus"] = "http://prometheus:9090"
    env = Environment.model_validate(
        {
            "name": "prod",
            "namespace": "ml-prod",
            "cloud": {"provider": "gcp", "project": "p", "region": "us-central1"},
            "cluster": "c",
            "serving": serving_env,
        }
    )
    serve = serving_rollout(spec, env, "gs://m", model.name, "gs://m/fraud-detector/3.2.0")
    serving = dataclasses.replace(
        model.serving,
        capacity_rps=capacity,
        throughput_rps=throughput,
        availability=availability,
        canary_percent=percent,
        replicas=serve.replicas,
        deployment=serve.deployment,
        stable_storage_uri=serve.stable_storage_uri,
        canary=serve.canary,
    )
    return inference_service(env_plan, dataclasses.replace(model, serving=serving))


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.floats(MIN_CAPACITY_RPS, 5000),
    throughput=st.floats(0.5, 50000),
    availability=st.floats(90, 99.999),
    scaler=st.sampled_from(["knative", "keda", "hpa"]),
    percent=st.none() | st.integers(1, 99),
)
def test_replicas_carry_the_peak_at_the_documented_headroom(
    capacity: float, throughput: float, availability: float, scaler: str, percent: int | None
) -> None:
    isvc = _render(capacity, throughput, availability, scaler, percent)
    assert webhook_problems(isvc) == []
    safe = capacity * SAFE_UTILISATION
    # the headroom is counted once: the consumer's per-pod target is the safe load (less
    # under 1 rps of rounding to a whole number), not 70 % of it again
    target = per_pod_target(isvc, capacity)
    assert safe - 1 < target <= safe * (1 + 1e-12)
    desired = desired_replicas(isvc, throughput, capacity)
    low, high = replica_bounds(isvc)
    # the autoscaler's own answer at the peak fits below maxReplicas, so the bound never
    # holds a replica above its safe load (the whole peak on the stable predictor: the
    # worst case, whatever share a canary takes)
    assert desired <= high
    assert throughput / min(max(desired, low), high) <= safe * (1 + 1e-12)
    assert 1 <= low <= high
    if availability >= HIGH_AVAILABILITY:
        assert low >= 2 and (high - 1) * capacity >= throughput
    for canary in isvc["spec"].get("canary", []):
        pods = canary["predictor"]["minReplicas"]
        assert throughput * canary["trafficPercent"] / 100 / pods <= safe * (1 + 1e-12)


def test_knative_target_is_not_discounted_twice() -> None:
    # Knative's rule on the rendered annotations: 900 rps over 49-rps pods is 19 pods; with
    # its default utilisation of 70 % (no annotation) it would be ceil(900 / 34.3) = 27
    isvc = _isvc("prod-eu", "recommender")
    assert desired_replicas(isvc, 900, 70) == math.ceil(900 / 49) == 19
    del isvc["spec"]["predictor"]["annotations"]
    assert desired_replicas(isvc, 900, 70) == 27


# --- validation per mode -------------------------------------------------------------------------


def test_canary_in_standard_mode_needs_stable_version(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "quickstart")
    model = repo / "models" / "fraud-detector.yaml"
    text = "\n".join(s for s in model.read_text().splitlines() if "stableVersion" not in s)
    model.write_text(text + "\n")
    (diag,) = validate(load(repo)).diagnostics
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.strip() == "rollout:")
    assert (diag.code, diag.file, diag.line, diag.column) == (
        "MK320",
        "models/fraud-detector.yaml",
        line,
        5,
    )
    assert "environment 'prod' is in standard mode" in diag.message
    assert diag.hint is not None and "stableVersion" in diag.hint and "knative" in diag.hint


def test_knative_mode_needs_no_stable_version(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "quickstart")
    model = repo / "models" / "fraud-detector.yaml"
    model.write_text(
        "\n".join(s for s in model.read_text().splitlines() if "stableVersion" not in s) + "\n"
    )
    project = repo / "modelkiln.yaml"
    project.write_text(project.read_text().replace("mode: standard", "mode: knative"))
    assert validate(load(repo)).diagnostics == []


def test_scale_to_zero_only_in_knative_mode(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "multi-cloud")
    model = repo / "models" / "churn.yaml"
    model.write_text(
        model.read_text().replace(
            "    capacityRps: 300\n",
            "    capacityRps: 300\n    autoscaling: {minReplicas: 0, maxReplicas: 4}\n",
        )
    )
    diagnostics = validate(load(repo)).diagnostics
    # staging and prod-us, not prod-eu (knative); at the base spec's line
    assert [d.code for d in diagnostics] == ["MK321", "MK321"]
    assert {d.message.split(" is in")[0] for d in diagnostics} == {
        "environment 'staging'",
        "environment 'prod-us'",
    }
    assert len({(d.file, d.line) for d in diagnostics}) == 1
