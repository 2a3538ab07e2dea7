"""The PrometheusRule of served models: the strict CRD schema and `promtool check rules` on
every example and in both serving modes, the structure of the SLO rules against Sloth's,
the metric names per mode, runbook links, rollback and drift rules. The alerts' behaviour
on realistic series is in tests/test_alerts_promtool.py."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from compiler.plan import AlertingPlan, EnvironmentPlan, ModelPlan
from compiler.targets import yamlout
from compiler.targets.serving.alerts import (
    BUDGET_BURN,
    DATA_DRIFT,
    DRIFT_STALE,
    LATENCY_BURN,
    ROLLBACK_LABEL,
    ROLLOUT_ERRORS,
    ROLLOUT_LATENCY,
    cron_period_seconds,
    prometheus_rule,
    runbook_url,
)
from compiler.targets.serving.slo_rules import MWMB, WINDOWS
from tests.alert_helpers import (
    MODES,
    alerts_named,
    env_of,
    in_mode,
    model_in,
    promtool_check,
    strict_schema_errors,
)
from tests.kfp_helpers import plan_of

EXAMPLES = ("multi-cloud", "quickstart")


def served() -> list[tuple[str, EnvironmentPlan, ModelPlan]]:
    cases = [
        (f"{example}/{env.name}/{model.name}", env, model)
        for example in EXAMPLES
        for env in plan_of(example).environments
        for model in env.models
        if model.serving is not None
    ]
    return cases + [(f"quickstart/prod/{mode}", *in_mode(mode)) for mode in MODES]


SERVED = served()
IDS = [case[0] for case in SERVED]


def rules_of(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def record(rule: dict[str, Any], name: str, slo: str) -> dict[str, Any]:
    (found,) = [r for r in rules_of(rule) if r.get("record") == name and r["labels"]["slo"] == slo]
    return found


# --- schema and syntax --------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "env", "model"), SERVED, ids=IDS)
def test_rule_matches_the_strict_crd_schema(
    case: str, env: EnvironmentPlan, model: ModelPlan
) -> None:
    errors = strict_schema_errors(prometheus_rule(env, model))
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(("case", "env", "model"), SERVED, ids=IDS)
def test_promtool_check_rules_is_clean(
    case: str, env: EnvironmentPlan, model: ModelPlan, promtool: str, tmp_path: Path
) -> None:
    output = promtool_check(prometheus_rule(env, model), promtool, tmp_path)
    assert "FAILED" not in output, output


# --- the SLO rules, against Sloth v0.16.0 ---------------------------------------------------------

SLOTH_RECORDS = {
    *(f"slo:sli_error:ratio_rate{w}" for w in (*WINDOWS, "30d")),
    "slo:objective:ratio",
    "slo:error_budget:ratio",
    "slo:time_period:days",
    "slo:current_burn_rate:ratio",
    "slo:period_burn_rate:ratio",
    "slo:period_error_budget_remaining:ratio",
}


def test_windows_and_factors_are_sloths() -> None:
    """Sloth's internal/alert/windows/google-30d.yaml, and its factors for 30 days
    (internal/alert/window.go getBurnRateFactor): 14.4, 6, 3, 1."""
    assert WINDOWS == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    assert [(w.severity, w.budget_percent, w.short, w.long, w.factor) for w in MWMB] == [
        ("page", 2, "5m", "1h", Decimal("14.4")),
        ("page", 5, "30m", "6h", Decimal(6)),
        ("ticket", 10, "2h", "1d", Decimal(3)),
        ("ticket", 10, "6h", "3d", Decimal(1)),
    ]


@pytest.mark.parametrize(("case", "env", "model"), SERVED, ids=IDS)
def test_every_slo_has_sloths_series_and_more(
    case: str, env: EnvironmentPlan, model: ModelPlan
) -> None:
    s = model.serving
    assert s is not None
    rule = prometheus_rule(env, model)
    assert [g["name"] for g in rule["spec"]["groups"][:3]] == [
        f"{model.name}-slo-availability",
        f"{model.name}-slo-latency",
        f"{model.name}-slo-alerts",
    ]
    for slo, group in (("availability", 0), ("latency", 1)):
        rules = rule["spec"]["groups"][group]["rules"]
        assert {r["record"] for r in rules} == SLOTH_RECORDS | {"modelkiln_slo_info"}
        for r in rules:
            assert {k: r["labels"][k] for k in ("model", "environment", "slo")} == {
                "model": model.name,
                "environment": env.name,
                "slo": slo,
            }
    selector = f'{{model="{model.name}", environment="{env.name}", slo="availability"}}'
    period = record(rule, "slo:sli_error:ratio_rate30d", "availability")["expr"]
    assert period == (
        f"sum_over_time(slo:sli_error:ratio_rate5m{selector}[30d])"
        f" / count_over_time(slo:sli_error:ratio_rate5m{selector}[30d])"
    )
    budget = Decimal(100) - Decimal(repr(s.availability))
    assert record(rule, "slo:error_budget:ratio", "availability")["expr"] == (
        f"vector({(budget / 100).normalize():f})"
    )
    assert record(rule, "slo:error_budget:ratio", "latency")["expr"] == "vector(0.01)"
    assert record(rule, "slo:objective:ratio", "latency")["expr"] == "vector(0.99)"
    info = record(rule, "modelkiln_slo_info", "availability")["labels"]
    assert info["objective"] == f"{s.availability:g}"
    assert info["mode"] == env.serving_mode
    assert info["period"] == "30d"


@pytest.mark.parametrize(("case", "env", "model"), SERVED, ids=IDS)
def test_both_slis_page_and_ticket(case: str, env: EnvironmentPlan, model: ModelPlan) -> None:
    rule = prometheus_rule(env, model)
    for name, slo in ((BUDGET_BURN, "availability"), (LATENCY_BURN, "latency")):
        alerts = alerts_named(rule, name)
        assert [(a["labels"]["severity"], a["for"]) for a in alerts] == [
            ("page", "2m"),
            ("ticket", "15m"),
        ]
        page, ticket = alerts
        selector = f'{{model="{model.name}", environment="{env.name}", slo="{slo}"}}'
        budget = "0.01" if slo == "latency" else None
        for short, long, factor, alert in (
            ("5m", "1h", "14.4", page),
            ("30m", "6h", "6", page),
            ("2h", "1d", "3", ticket),
            ("6h", "3d", "1", ticket),
        ):
            bound = f"({factor} * {budget})" if budget else f"({factor} * "
            assert f"slo:sli_error:ratio_rate{short}{selector} > {bound}" in alert["expr"]
            assert f"slo:sli_error:ratio_rate{long}{selector} > {bound}" in alert["expr"]
        for a in alerts:
            assert a["labels"]["namespace"] == env.namespace
            assert a["labels"]["slo"] == slo
            assert model.name in a["annotations"]["summary"]
            assert env.name in a["annotations"]["description"]
    assert not [r for r in rules_of(rule) if "histogram_quantile" in r["expr"] and "record" in r]


@pytest.mark.parametrize(("case", "env", "model"), SERVED, ids=IDS)
def test_every_alert_has_a_runbook_and_routing_labels(
    case: str, env: EnvironmentPlan, model: ModelPlan
) -> None:
    for r in rules_of(prometheus_rule(env, model)):
        if "alert" not in r:
            continue
        assert r["annotations"]["runbook_url"] == runbook_url(env, r["alert"]), r
        assert r["labels"]["namespace"] == env.namespace, r  # the AlertmanagerConfig's
        assert r["labels"]["severity"] in ("page", "ticket"), r


def test_runbook_urls() -> None:
    env, _ = in_mode("knative")
    default = runbook_url(env, BUDGET_BURN)
    assert default == (
        "https://github.com/modelkiln/modelkiln/blob/main/docs/runbooks.md"
        "#modelavailabilitybudgetburn"
    )
    anchors = (Path(__file__).parent.parent / "docs" / "runbooks.md").read_text("utf-8")
    for name in (
        BUDGET_BURN,
        LATENCY_BURN,
        ROLLOUT_ERRORS,
        ROLLOUT_LATENCY,
        DATA_DRIFT,
        DRIFT_STALE,
    ):
        assert f"\n## {name}\n" in anchors, name  # the anchor the default link points at
    own = replace(env, alerting=AlertingPlan("https://runbooks.acme.internal/ml"))
    assert (
        runbook_url(own, LATENCY_BURN) == "https://runbooks.acme.internal/ml/modellatencybudgetburn"
    )
    assert env_of("prod-us").alerting.runbook_base_url == "https://runbooks.acme.internal/modelkiln"


# --- metric names per mode ----------------------------------------------------------------------


def test_knative_mode_reads_the_queue_proxys_otel_metrics() -> None:
    env, model = in_mode("knative")
    rule = prometheus_rule(env, model)
    pods = 'namespace="ml-prod", pod=~"fraud-detector-predictor-[0-9]+-deployment-.+"'
    availability = record(rule, "slo:sli_error:ratio_rate5m", "availability")["expr"]
    assert availability == (
        "(sum(rate(kn_serving_invocation_duration_seconds_count{"
        f'{pods}, http_response_status_code=~"5.."}}[5m])) or vector(0))'
        f" / (sum(rate(kn_serving_invocation_duration_seconds_count{{{pods}}}[5m])) > 0)"
    )
    latency = record(rule, "slo:sli_error:ratio_rate1h", "latency")["expr"]
    assert latency == (
        f'1 - sum(rate(kn_serving_invocation_duration_seconds_bucket{{{pods}, le="0.1"}}[1h]))'
        f" / (sum(rate(kn_serving_invocation_duration_seconds_count{{{pods}}}[1h])) > 0)"
    )


def test_standard_mode_reads_the_model_server_and_the_gateway() -> None:
    env, model = in_mode("standard")
    rule = prometheus_rule(env, model)
    server = 'namespace="ml-prod", model_name="fraud-detector"'
    latency = record(rule, "slo:sli_error:ratio_rate5m", "latency")["expr"]
    assert f'request_predict_seconds_bucket{{{server}, le="0.1"}}' in latency
    assert f"request_predict_seconds_count{{{server}}}" in latency
    availability = record(rule, "slo:sli_error:ratio_rate5m", "availability")["expr"]
    assert availability.startswith("clamp_max((sum(rate(istio_requests_total{")
    assert (
        'destination_service_name="fraud-detector-predictor", response_code=~"5.."' in availability
    )
    assert f"request_predict_seconds_count{{{server}}}" in availability


def test_metrics_are_configurable_per_environment() -> None:
    """A custom server with its own status-code label: errors as matchers on its counter,
    its own histogram, the first group of the revision pattern names the revision."""
    metrics = {
        "requests": {"metric": "http_requests_total", "selector": 'app="{model}"'},
        "errors": {"selector": 'code=~"5.."'},
        "latency": {
            "histogram": "http_request_duration_seconds",
            "selector": 'app="{model}", ns="{namespace}"',
            "revisionLabel": "version",
        },
    }
    env, model = in_mode("standard", metrics)
    rule = prometheus_rule(env, model)
    availability = record(rule, "slo:sli_error:ratio_rate5m", "availability")["expr"]
    assert availability == (
        '(sum(rate(http_requests_total{app="fraud-detector", code=~"5.."}[5m])) or vector(0))'
        ' / (sum(rate(http_requests_total{app="fraud-detector"}[5m])) > 0)'
    )
    latency = record(rule, "slo:sli_error:ratio_rate5m", "latency")["expr"]
    assert (
        'http_request_duration_seconds_bucket{app="fraud-detector", ns="ml-prod", le="0.1"}'
        in latency
    )
    (slow,) = alerts_named(rule, ROLLOUT_LATENCY)
    assert '"revision_name", "$1", "version", "(.+)"' in slow["expr"]


def test_latency_reads_the_bucket_at_or_below_the_objective() -> None:
    env, model = in_mode("knative")
    assert model.serving is not None
    for ms, le in (
        (250.0, 'le="0.25"'),
        (120.0, 'le="0.1"'),
        (2.0, 'le="0.005"'),
        (7500.0, 'le="7.5"'),
        (10000.0, 'le=~"10(\\\\.0+)?"'),
    ):
        at = replace(model, serving=replace(model.serving, latency_p99_ms=ms))
        expr = record(prometheus_rule(env, at), "slo:sli_error:ratio_rate5m", "latency")["expr"]
        assert le in expr, (ms, expr)


# --- rollback and drift ------------------------------------------------------------------------


def test_canary_models_with_thresholds_have_rollback_alerts() -> None:
    env = env_of("prod-us")
    model = model_in(env, "recommender")
    assert model.serving is not None and model.serving.strategy == "canary"
    rule = prometheus_rule(env, model)
    for name in (ROLLOUT_ERRORS, ROLLOUT_LATENCY):
        (alert,) = alerts_named(rule, name)
        assert alert["labels"][ROLLBACK_LABEL] == "true"
        assert alert["labels"]["severity"] == "page"
        assert "revert" in alert["annotations"]["description"]
    (errors,) = alerts_named(rule, ROLLOUT_ERRORS)
    assert errors["expr"].startswith("sum by (revision_name) (label_replace(rate(")
    assert errors["expr"].endswith("> 0.005")
    (latency,) = alerts_named(rule, ROLLOUT_LATENCY)
    assert "sum by (revision_name, le)" in latency["expr"]
    assert latency["expr"].endswith("> 0.12")  # seconds


def test_models_without_canary_thresholds_have_no_rollback_alerts() -> None:
    direct = model_in(env_of("staging"), "recommender")  # direct rollout, thresholds set
    canary = model_in(env_of("prod-us"), "churn")  # canary, no thresholds
    assert direct.serving is not None and direct.serving.strategy == "direct"
    assert direct.serving.max_error_rate is not None
    assert canary.serving is not None and canary.serving.max_error_rate is None
    for env_name, model in (("staging", direct), ("prod-us", canary)):
        rule = prometheus_rule(env_of(env_name), model)
        assert not [r for r in rules_of(rule) if ROLLBACK_LABEL in r.get("labels", {})]
        assert not [g for g in rule["spec"]["groups"] if g["name"].endswith("-rollout")]


@pytest.mark.parametrize(("case", "env", "model"), SERVED, ids=IDS)
def test_drift_alerts_only_for_models_with_drift(
    case: str, env: EnvironmentPlan, model: ModelPlan
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


@pytest.mark.parametrize(("case", "env", "model"), SERVED, ids=IDS)
def test_rendered_rule_is_deterministic(case: str, env: EnvironmentPlan, model: ModelPlan) -> None:
    assert yamlout.dump(prometheus_rule(env, model)) == yamlout.dump(prometheus_rule(env, model))
