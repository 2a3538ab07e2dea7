"""The PrometheusRule of served models: schema, promtool syntax, promtool unit tests of the
burn-rate, latency and rollback alerts, and the structure per kind of model."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from compiler.plan import EnvironmentPlan, ModelPlan
from compiler.targets import yamlout
from compiler.targets.serving.alerts import (
    BUDGET_BURN,
    DATA_DRIFT,
    DRIFT_STALE,
    LATENCY_HIGH,
    ROLLBACK_LABEL,
    ROLLOUT_ERRORS,
    ROLLOUT_LATENCY,
    cron_period_seconds,
    prometheus_rule,
)
from tests.conftest import UPSTREAM
from tests.kfp_helpers import plan_of

SCHEMA = UPSTREAM / "prometheus-operator" / "prometheusrule.v1.strict.schema.json"
PROMTOOL = shutil.which("promtool")  # the tests that run it ask for the promtool fixture
EXAMPLES = ("multi-cloud", "quickstart")

needs_promtool = pytest.mark.usefixtures("promtool")  # skipped without it; failed in CI


def served() -> list[tuple[str, EnvironmentPlan, ModelPlan]]:
    return [
        (example, env, model)
        for example in EXAMPLES
        for env in plan_of(example).environments
        for model in env.models
        if model.serving is not None
    ]


def served_ids() -> list[str]:
    return [f"{example}/{env.name}/{model.name}" for example, env, model in served()]


def find(env_name: str, model_name: str, example: str = "multi-cloud") -> ModelPlan:
    env = next(e for e in plan_of(example).environments if e.name == env_name)
    return next(m for m in env.models if m.name == model_name)


def env_of(env_name: str, example: str = "multi-cloud") -> EnvironmentPlan:
    return next(e for e in plan_of(example).environments if e.name == env_name)


def rules_of(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def alerts_named(rule: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in rules_of(rule) if r.get("alert") == name]


def matchers(text: str) -> dict[str, str]:
    """`a="x", b="y"` as a dict; the test series need plain equality matchers."""
    pairs = re.findall(r'(\w+)\s*=\s*"([^"]*)"', text)
    assert len(pairs) == text.count("="), f"not plain equality matchers: {text}"
    return dict(pairs)


def series(metric: str, labels: dict[str, str]) -> str:
    return metric + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


# --- schema and syntax --------------------------------------------------------------------------


@pytest.mark.parametrize(("example", "env", "model"), served(), ids=served_ids())
def test_rule_matches_the_strict_crd_schema(
    example: str, env: EnvironmentPlan, model: ModelPlan
) -> None:
    schema = json.loads(SCHEMA.read_text("utf-8"))
    rule = prometheus_rule(env, model)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(rule), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


@needs_promtool
@pytest.mark.parametrize(("example", "env", "model"), served(), ids=served_ids())
def test_promtool_check_rules(
    example: str, env: EnvironmentPlan, model: ModelPlan, tmp_path: Path
) -> None:
    assert PROMTOOL is not None
    path = tmp_path / "rules.yaml"
    path.write_bytes(yamlout.dump(prometheus_rule(env, model)["spec"]))
    run = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "FAILED" not in run.stdout + run.stderr, run.stdout + run.stderr  # lint findings


# --- promtool unit tests ------------------------------------------------------------------------

QUICKSTART_ENV = "prod"
QUICKSTART_MODEL = "fraud-detector"
STABLE = "fraud-detector-predictor-00001"
CANARY = "fraud-detector-predictor-00002"
MINUTES = 240  # four hours of one-minute samples


def quickstart() -> tuple[EnvironmentPlan, ModelPlan]:
    env = env_of(QUICKSTART_ENV, "quickstart")
    model = next(m for m in env.models if m.name == QUICKSTART_MODEL)
    assert model.serving is not None and model.serving.availability == 99.9
    return env, model


def request_series(
    model: ModelPlan, revision: str, ok_per_minute: int, failed_per_minute: int
) -> list[dict[str, str]]:
    """The request counter of one revision, split into ok and failed requests."""
    s = model.serving
    assert s is not None
    m = s.metrics
    labels = {**matchers(m.selector), "revision_name": revision}
    failed = {**labels, **matchers(m.errors)}
    ok = {**labels, **{k: "2xx" for k in matchers(m.errors)}}
    return [
        {"series": series(m.requests, ok), "values": f"0+{ok_per_minute}x{MINUTES}"},
        {"series": series(m.requests, failed), "values": f"0+{failed_per_minute}x{MINUTES}"},
    ]


def latency_series(
    model: ModelPlan, revision: str, per_minute: dict[str, int]
) -> list[dict[str, str]]:
    """Cumulative histogram buckets of one revision from requests per minute per bucket."""
    s = model.serving
    assert s is not None
    m = s.metrics
    labels = {**matchers(m.selector), "revision_name": revision}
    out = []
    total = 0
    for le, count in per_minute.items():
        total += count
        out.append(
            {
                "series": series(m.latency_bucket, {**labels, "le": le}),
                "values": f"0+{total}x{MINUTES}",
            }
        )
    return out


def budget_alert(env: EnvironmentPlan, model: ModelPlan, severity: str) -> dict[str, Any]:
    rule = next(
        r
        for r in alerts_named(prometheus_rule(env, model), BUDGET_BURN)
        if r["labels"]["severity"] == severity
    )
    return {"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}


def expanded(rule: dict[str, Any], revision: str) -> dict[str, Any]:
    """The expected alert of a per-revision rule, its label templates filled in."""
    annotations = {
        k: v.replace("{{ $labels.revision_name }}", revision)
        for k, v in rule["annotations"].items()
    }
    return {
        "exp_labels": {**rule["labels"], "revision_name": revision},
        "exp_annotations": annotations,
    }


def promtool_test(
    env: EnvironmentPlan, model: ModelPlan, tests: list[dict[str, Any]], tmp_path: Path
) -> None:
    assert PROMTOOL is not None
    (tmp_path / "rules.yaml").write_bytes(yamlout.dump(prometheus_rule(env, model)["spec"]))
    for case in tests:
        case.setdefault("interval", "1m")
    document = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(document, sort_keys=False), "utf-8")
    run = subprocess.run(
        [PROMTOOL, "test", "rules", "test.yaml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@needs_promtool
def test_fast_burn_pages(tmp_path: Path) -> None:
    """1.5 % errors against a 0.1 % budget (15×, just past the 14.4× page threshold; exactly
    14.4× is the boundary, where `>` is decided by floating-point rounding). After 2m the page
    fires; by 2h the 1d/2h windows have passed 3× for 15m too, so the ticket fires as well."""
    env, model = quickstart()
    page, ticket = budget_alert(env, model, "page"), budget_alert(env, model, "ticket")
    tests = [
        {
            "input_series": request_series(model, STABLE, 985, 15),
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": BUDGET_BURN, "exp_alerts": []},
                {"eval_time": "10m", "alertname": BUDGET_BURN, "exp_alerts": [page]},
                {"eval_time": "2h", "alertname": BUDGET_BURN, "exp_alerts": [page, ticket]},
            ],
        }
    ]
    promtool_test(env, model, tests, tmp_path)


@needs_promtool
def test_budget_rate_burn_neither_pages_nor_tickets(tmp_path: Path) -> None:
    """0.1 % errors, exactly the budget (1×): no page at any time; and since burning exactly
    the budget is not over it, no ticket either (rates chosen so the ratio is exact)."""
    env, model = quickstart()
    tests = [
        {
            "input_series": request_series(model, STABLE, 59940, 60),
            "alert_rule_test": [
                {"eval_time": t, "alertname": BUDGET_BURN, "exp_alerts": []}
                for t in ("10m", "1h", "2h", "4h")
            ],
        }
    ]
    promtool_test(env, model, tests, tmp_path)


@needs_promtool
def test_slow_burn_opens_a_ticket_not_a_page(tmp_path: Path) -> None:
    """0.4 % errors (4×): above the ticket's 3× over 1d and 2h, below both page rates."""
    env, model = quickstart()
    ticket = budget_alert(env, model, "ticket")
    tests = [
        {
            "input_series": request_series(model, STABLE, 996, 4),
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": BUDGET_BURN, "exp_alerts": []},
                {"eval_time": "2h", "alertname": BUDGET_BURN, "exp_alerts": [ticket]},
            ],
        }
    ]
    promtool_test(env, model, tests, tmp_path)


@needs_promtool
def test_error_ratio_is_zero_without_errors_and_absent_without_traffic(tmp_path: Path) -> None:
    env, model = quickstart()
    s = model.serving
    assert s is not None
    labels = 'environment="prod", model="fraud-detector", slo="availability"'
    ok = {**matchers(s.metrics.selector), "revision_name": STABLE, "response_code_class": "2xx"}
    tests = [
        {  # only successful requests: no 5xx series exists at all, the ratio is 0
            "input_series": [
                {"series": series(s.metrics.requests, ok), "values": f"0+100x{MINUTES}"}
            ],
            "promql_expr_test": [
                {
                    "expr": "slo:sli_error:ratio_rate5m",
                    "eval_time": "30m",
                    "exp_samples": [
                        {"labels": f"slo:sli_error:ratio_rate5m{{{labels}}}", "value": 0}
                    ],
                }
            ],
        },
        {  # no traffic: no ratio (never NaN) and no alert
            "input_series": request_series(model, STABLE, 0, 0),
            "promql_expr_test": [
                {"expr": "slo:sli_error:ratio_rate5m", "eval_time": "30m", "exp_samples": []},
                {"expr": "slo:latency_p99:5m", "eval_time": "30m", "exp_samples": []},
            ],
            "alert_rule_test": [{"eval_time": "2h", "alertname": BUDGET_BURN, "exp_alerts": []}],
        },
    ]
    promtool_test(env, model, tests, tmp_path)


@needs_promtool
def test_canary_failures_ask_for_rollback(tmp_path: Path) -> None:
    """The canary revision fails 5 % of its requests (rollback threshold 1 %) and is slow
    (all requests between 200 and 500 ms; threshold 200 ms); the stable revision is fine."""
    env, model = quickstart()
    rule = prometheus_rule(env, model)
    errors = alerts_named(rule, ROLLOUT_ERRORS)[0]
    latency = alerts_named(rule, ROLLOUT_LATENCY)[0]
    fast = {"50": 100, "100": 0, "150": 0, "200": 0, "500": 0, "+Inf": 0}
    slow = {"50": 0, "100": 0, "150": 0, "200": 0, "500": 10, "+Inf": 0}
    tests = [
        {
            "input_series": request_series(model, STABLE, 1000, 0)
            + request_series(model, CANARY, 95, 5)
            + latency_series(model, STABLE, fast)
            + latency_series(model, CANARY, slow),
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": ROLLOUT_ERRORS, "exp_alerts": []},
                {
                    "eval_time": "10m",
                    "alertname": ROLLOUT_ERRORS,
                    "exp_alerts": [expanded(errors, CANARY)],
                },
                {
                    "eval_time": "10m",
                    "alertname": ROLLOUT_LATENCY,
                    "exp_alerts": [expanded(latency, CANARY)],
                },
            ],
        }
    ]
    promtool_test(env, model, tests, tmp_path)


@needs_promtool
def test_slow_model_pages_on_p99(tmp_path: Path) -> None:
    """Half the requests take 150-200 ms, a fifth 200-500 ms: p99 is far above the 150 ms
    objective over 5m and 1h, and 70 % of requests are slower than the target (a bucket
    boundary here, so the latency ratio is recorded)."""
    env, model = quickstart()
    alert = alerts_named(prometheus_rule(env, model), LATENCY_HIGH)[0]
    buckets = {"50": 30, "100": 0, "150": 0, "200": 50, "500": 20, "+Inf": 0}
    labels = 'environment="prod", model="fraud-detector", slo="latency"'
    tests = [
        {
            "input_series": latency_series(model, STABLE, buckets),
            "promql_expr_test": [
                {
                    "expr": "round(slo:sli_latency:ratio_rate5m, 0.001)",
                    "eval_time": "30m",
                    "exp_samples": [{"labels": f"{{{labels}}}", "value": 0.7}],
                }
            ],
            "alert_rule_test": [
                {
                    "eval_time": "2h",
                    "alertname": LATENCY_HIGH,
                    "exp_alerts": [
                        {"exp_labels": alert["labels"], "exp_annotations": alert["annotations"]}
                    ],
                }
            ],
        }
    ]
    promtool_test(env, model, tests, tmp_path)


@needs_promtool
def test_a_laxer_objective_tolerates_the_same_errors(tmp_path: Path) -> None:
    """The same 1.5 % errors against a 99 % objective (1 % budget) is a 1.5× burn: no page."""
    env, model = quickstart()
    assert model.serving is not None
    lax = replace(model, serving=replace(model.serving, availability=99.0))
    tests = [
        {
            "input_series": request_series(lax, STABLE, 985, 15),
            "alert_rule_test": [
                {
                    "eval_time": "2h",
                    "alertname": BUDGET_BURN,
                    "exp_alerts": [budget_alert(env, lax, "ticket")],
                }
            ],
        }
    ]
    promtool_test(env, lax, tests, tmp_path)


# --- structure ----------------------------------------------------------------------------------

RECORDS = {
    "slo:sli_error:ratio_rate5m",
    "slo:sli_error:ratio_rate30m",
    "slo:sli_error:ratio_rate1h",
    "slo:sli_error:ratio_rate2h",
    "slo:sli_error:ratio_rate6h",
    "slo:sli_error:ratio_rate1d",
    "slo:sli_error:ratio_rate3d",
    "slo:objective:ratio",
    "slo:error_budget:ratio",
    "slo:latency_p99:5m",
    "slo:latency_p99:1h",
    "slo:sli_latency:ratio_rate5m",
}


@pytest.mark.parametrize(("example", "env", "model"), served(), ids=served_ids())
def test_rule_structure(example: str, env: EnvironmentPlan, model: ModelPlan) -> None:
    s = model.serving
    assert s is not None
    rule = prometheus_rule(env, model)
    assert list(rule) == ["apiVersion", "kind", "metadata", "spec"]
    assert rule["metadata"] == {
        "name": f"{model.name}-slo",
        "namespace": env.namespace,
        "labels": {
            "app.kubernetes.io/managed-by": "modelkiln",
            "modelkiln.dev/model": model.name,
            "modelkiln.dev/environment": env.name,
        },
    }
    rules = rules_of(rule)
    assert {r["record"] for r in rules if "record" in r} == RECORDS
    for r in rules:
        assert r["labels"]["model"] == model.name, r
        assert r["labels"]["environment"] == env.name, r
        assert r["labels"]["slo"], r
    burns = alerts_named(rule, BUDGET_BURN)
    assert sorted((r["labels"]["severity"], r["for"]) for r in burns) == [
        ("page", "2m"),
        ("ticket", "15m"),
    ]
    for r in burns:
        assert model.name in r["annotations"]["summary"]
        assert env.name in r["annotations"]["description"]
        assert f"{s.availability:g}%" in r["annotations"]["description"]
    assert [r["labels"]["severity"] for r in alerts_named(rule, LATENCY_HIGH)] == ["page"]
    assert rule == prometheus_rule(env, model)  # deterministic


def test_canary_models_with_thresholds_have_rollback_alerts() -> None:
    model = find("prod-us", "recommender")
    assert model.serving is not None and model.serving.strategy == "canary"
    rule = prometheus_rule(env_of("prod-us"), model)
    for name in (ROLLOUT_ERRORS, ROLLOUT_LATENCY):
        (alert,) = alerts_named(rule, name)
        assert alert["labels"][ROLLBACK_LABEL] == "true"
        assert alert["labels"]["severity"] == "page"
        assert "revert" in alert["annotations"]["description"]
    (errors,) = alerts_named(rule, ROLLOUT_ERRORS)
    assert "sum by (revision_name)" in errors["expr"]
    assert errors["expr"].endswith("> 0.005")
    (latency,) = alerts_named(rule, ROLLOUT_LATENCY)
    assert "sum by (revision_name, le)" in latency["expr"]
    assert latency["expr"].endswith("> 120")


def test_models_without_canary_thresholds_have_no_rollback_alerts() -> None:
    direct = find("staging", "recommender")  # direct rollout, thresholds set
    canary = find("prod-us", "churn")  # canary, no thresholds
    assert direct.serving is not None and direct.serving.strategy == "direct"
    assert direct.serving.max_error_rate is not None
    assert canary.serving is not None and canary.serving.max_error_rate is None
    for env_name, model in (("staging", direct), ("prod-us", canary)):
        rule = prometheus_rule(env_of(env_name), model)
        assert not [r for r in rules_of(rule) if ROLLBACK_LABEL in r.get("labels", {})]
        assert not [g for g in rule["spec"]["groups"] if g["name"].endswith("-rollout")]


@pytest.mark.parametrize(("example", "env", "model"), served(), ids=served_ids())
def test_drift_alerts_only_for_models_with_drift(
    example: str, env: EnvironmentPlan, model: ModelPlan
) -> None:
    assert model.serving is not None
    drift = model.serving.drift
    rule = prometheus_rule(env, model)
    if drift is None:
        assert not alerts_named(rule, DATA_DRIFT)
        assert not alerts_named(rule, DRIFT_STALE)
        return
    (alert,) = alerts_named(rule, DATA_DRIFT)
    assert alert["for"] == "15m"
    assert alert["labels"]["severity"] == "ticket"
    assert f'method="{drift.method}"' in alert["expr"]
    assert alert["expr"].startswith("max by (feature) (modelkiln_drift_score{")
    assert alert["expr"].endswith(f"> {drift.threshold:g}")
    stale = alerts_named(rule, DRIFT_STALE)
    assert len(stale) == 2
    bound = 3 * cron_period_seconds(drift.schedule)
    assert stale[0]["expr"].endswith(f"> {bound}")
    assert bound == 3 * 3600  # both examples run drift hourly


@pytest.mark.parametrize(
    ("schedule", "hours"),
    [
        ("0 * * * *", 1),
        ("30 * * * *", 1),
        ("*/15 * * * *", 0.25),
        ("0 */6 * * *", 6),
        ("0 3 * * *", 24),
        ("0,30 8 * * *", 23.5),
        ("0 9-17 * * mon-fri", 64),  # Friday 17:00 to Monday 09:00
        ("0 3 * * 1", 168),
        ("@daily", 24),
        ("0 0 1 * *", 31 * 24),
    ],
)
def test_cron_period(schedule: str, hours: float) -> None:
    assert cron_period_seconds(schedule) == hours * 3600


def test_rendered_yaml_is_stable() -> None:
    env, model = quickstart()
    assert yamlout.dump(prometheus_rule(env, model)) == yamlout.dump(prometheus_rule(env, model))
