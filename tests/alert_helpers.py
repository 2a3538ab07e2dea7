"""Plans of the quickstart model in either serving mode, realistic input series as each
mode's exporters write them, and a promtool runner."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from compiler.plan import EnvironmentPlan, ModelPlan
from compiler.serving_metrics import DEFAULT_BUCKETS, le_text, resolve
from compiler.spec.project import Environment
from compiler.targets import yamlout
from compiler.targets.serving.alerts import prometheus_rule
from tests.conftest import UPSTREAM
from tests.kfp_helpers import plan_of

MODES = ("knative", "standard")
MINUTES = 300  # five hours of one-minute samples
NAMESPACE = "ml-prod"
MODEL = "fraud-detector"


def env_of(name: str, example: str = "multi-cloud") -> EnvironmentPlan:
    return next(e for e in plan_of(example).environments if e.name == name)


def model_in(env: EnvironmentPlan, name: str) -> ModelPlan:
    return next(m for m in env.models if m.name == name)


def in_mode(
    mode: str, metrics: dict[str, Any] | None = None, model: ModelPlan | None = None
) -> tuple[EnvironmentPlan, ModelPlan]:
    """The quickstart's prod environment and fraud-detector (or `model`), served in `mode`
    with the environment's serving.metrics set to `metrics`."""
    env = env_of("prod", "quickstart")
    model = model or model_in(env, MODEL)
    assert model.serving is not None
    spec = Environment.model_validate(
        {
            "name": env.name,
            "namespace": env.namespace,
            "cloud": {"provider": "gcp", "project": "acme-prod", "region": "us-central1"},
            "cluster": env.cluster,
            "serving": {"mode": mode, "metrics": metrics or {}},
        }
    )
    serving = replace(model.serving, metrics=resolve(spec, model.name))
    return replace(env, serving_mode=mode), replace(model, serving=serving)


# --- input series ------------------------------------------------------------------------------


def pod(mode: str, revision: str) -> str:
    """A pod of a revision (Knative) or of a Deployment (Standard), as Kubernetes names it."""
    if mode == "knative":
        return f"{revision}-deployment-6d8f9c7b5-x2k4p"
    return f"{revision}-7d9f8b6c5-x2k4p"


def revision_of(mode: str, number: int = 1) -> str:
    """Knative revision <isvc>-predictor-0000n; Standard's Deployment <isvc>-predictor."""
    return f"{MODEL}-predictor-{number:05d}" if mode == "knative" else f"{MODEL}-predictor"


def _le(mode: str, bound: float) -> str:
    """Go clients (Knative) write 1, Python's prometheus_client writes 1.0."""
    text = le_text(bound)
    return text + ".0" if mode == "standard" and "." not in text else text


def _series(metric: str, labels: dict[str, str], per_minute: float) -> dict[str, str]:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{inner}}}", "values": f"0+{per_minute:g}x{MINUTES}"}


def _histogram(
    mode: str, metric: str, labels: dict[str, str], latencies: dict[float, int]
) -> list[dict[str, str]]:
    """Cumulative buckets and the count of requests per minute by latency (seconds)."""
    out = []
    for bound in (*DEFAULT_BUCKETS, float("inf")):
        le = "+Inf" if bound == float("inf") else _le(mode, bound)
        within = sum(n for latency, n in latencies.items() if latency <= bound)
        out.append(_series(f"{metric}_bucket", {**labels, "le": le}, within))
    out.append(_series(f"{metric}_count", labels, sum(latencies.values())))
    return out


def traffic(
    mode: str,
    revision: str,
    ok: int,
    failed: int = 0,
    latencies: dict[float, int] | None = None,
) -> list[dict[str, str]]:
    """Requests per minute to one revision as the mode's exporters count them: `ok`
    succeed with `latencies` (seconds -> requests, default all in 3 ms), `failed` fail
    fast (2 ms, HTTP 500)."""
    good = latencies if latencies is not None else {0.003: ok}
    assert sum(good.values()) == ok
    if mode == "knative":  # the queue-proxy's histogram, one per status code
        labels = {
            "namespace": NAMESPACE,
            "pod": pod(mode, revision),
            "container": "queue-proxy",
            "otel_scope_name": "knative.dev/serving/pkg/queue",
        }
        metric = "kn_serving_invocation_duration_seconds"
        series = _histogram(mode, metric, {**labels, "http_response_status_code": "200"}, good)
        if failed:
            bad = {**labels, "http_response_status_code": "500"}
            series += _histogram(mode, metric, bad, {0.002: failed})
        return series
    # Standard: the model server times every predict(), failed or not; the Istio gateway
    # counts responses by code.
    server = {"namespace": NAMESPACE, "model_name": MODEL, "pod": pod(mode, revision)}
    all_requests = dict(good)
    all_requests[0.002] = all_requests.get(0.002, 0) + failed
    series = _histogram(mode, "request_predict_seconds", server, all_requests)
    return series + gateway(revision, ok, failed)


def gateway(revision: str, ok: int, failed: int, code: str = "500") -> list[dict[str, str]]:
    """istio_requests_total of the ingress gateway for the predictor Service."""
    labels = {
        "reporter": "source",
        "source_workload": "istio-ingressgateway",
        "destination_service_namespace": NAMESPACE,
        "destination_service_name": f"{MODEL}-predictor",
        "destination_workload": revision,
    }
    return [
        _series("istio_requests_total", {**labels, "response_code": "200"}, ok),
        _series("istio_requests_total", {**labels, "response_code": code}, failed),
    ]


# --- rules and promtool --------------------------------------------------------------------------


def alerts_named(rule: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for g in rule["spec"]["groups"] for r in g["rules"] if r.get("alert") == name]


def expected(rule: dict[str, Any], **labels: str) -> dict[str, Any]:
    """The alert a rule fires: its labels (plus those of the series, `labels`) and its
    annotations with those labels' templates filled in."""
    annotations = dict(rule["annotations"])
    for key, value in labels.items():
        annotations = {
            k: v.replace(f"{{{{ $labels.{key} }}}}", value) for k, v in annotations.items()
        }
    return {"exp_labels": {**rule["labels"], **labels}, "exp_annotations": annotations}


def severity(rule: dict[str, Any], name: str, level: str) -> dict[str, Any]:
    return expected(next(r for r in alerts_named(rule, name) if r["labels"]["severity"] == level))


def promtool_test(
    promtool: str,
    env: EnvironmentPlan,
    model: ModelPlan,
    tests: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    (tmp_path / "rules.yaml").write_bytes(yamlout.dump(prometheus_rule(env, model)["spec"]))
    for case in tests:
        case.setdefault("interval", "1m")
    document = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(document, sort_keys=False), "utf-8")
    run = subprocess.run(
        [promtool, "test", "rules", "test.yaml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr


RULE_SCHEMA = UPSTREAM / "prometheus-operator" / "prometheusrule.v1.strict.schema.json"


def strict_schema_errors(rule: dict[str, Any]) -> list[str]:
    """What the strict PrometheusRule CRD schema says against a rendered rule object."""
    validator = jsonschema.Draft7Validator(json.loads(RULE_SCHEMA.read_text("utf-8")))
    errors = sorted(validator.iter_errors(rule), key=str)
    return [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def promtool_check(rule: dict[str, Any], promtool: str, tmp_path: Path) -> str:
    """`promtool check rules --lint=all --lint-fatal` on the rule's groups: its output, or an
    AssertionError when promtool refuses them."""
    path = tmp_path / "rules.yaml"
    path.write_bytes(yamlout.dump(rule["spec"]))
    run = subprocess.run(
        [promtool, "check", "rules", "--lint=all", "--lint-fatal", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout + run.stderr
