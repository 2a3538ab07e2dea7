"""promtool unit tests of every alert, firing and silent, on series as each serving mode's
exporters write them (tests/alert_helpers.py): Knative's queue-proxy histogram with
http_response_status_code, and in Standard mode KServe's model-server histogram plus the
Istio gateway's request counter."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from compiler.targets.serving.alerts import (
    BUDGET_BURN,
    DATA_DRIFT,
    DRIFT_STALE,
    LATENCY_BURN,
    ROLLOUT_ERRORS,
    ROLLOUT_LATENCY,
    prometheus_rule,
)
from tests.alert_helpers import (
    MODES,
    alerts_named,
    expected,
    gateway,
    in_mode,
    promtool_test,
    revision_of,
    severity,
    traffic,
)

BASE = 'environment="prod", model="fraud-detector"'


def silent(name: str, *times: str) -> list[dict[str, Any]]:
    return [{"eval_time": t, "alertname": name, "exp_alerts": []} for t in times]


# --- availability ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_fast_availability_burn_pages(mode: str, promtool: str, tmp_path: Path) -> None:
    """1.5 % failures against a 0.1 % budget: 15×, past the page's 14.4× over 5m and 1h.
    After its 2m the page fires; by 2h the ticket's 3× over 2h and 1d has held 15m too."""
    env, model = in_mode(mode)
    rule = prometheus_rule(env, model)
    page, ticket = severity(rule, BUDGET_BURN, "page"), severity(rule, BUDGET_BURN, "ticket")
    tests = [
        {
            "input_series": traffic(mode, revision_of(mode), ok=985, failed=15),
            "alert_rule_test": [
                *silent(BUDGET_BURN, "1m"),
                {"eval_time": "10m", "alertname": BUDGET_BURN, "exp_alerts": [page]},
                {"eval_time": "2h", "alertname": BUDGET_BURN, "exp_alerts": [page, ticket]},
            ],
        }
    ]
    promtool_test(promtool, env, model, tests, tmp_path)


@pytest.mark.parametrize("mode", MODES)
def test_slow_availability_burn_opens_a_ticket(mode: str, promtool: str, tmp_path: Path) -> None:
    """0.4 % failures (4×): above the ticket's 3×, below both page factors (6×, 14.4×)."""
    env, model = in_mode(mode)
    ticket = severity(prometheus_rule(env, model), BUDGET_BURN, "ticket")
    tests = [
        {
            "input_series": traffic(mode, revision_of(mode), ok=996, failed=4),
            "alert_rule_test": [
                *silent(BUDGET_BURN, "10m"),  # the ticket's 15m have not passed yet
                {"eval_time": "1h", "alertname": BUDGET_BURN, "exp_alerts": [ticket]},
                {"eval_time": "4h", "alertname": BUDGET_BURN, "exp_alerts": [ticket]},
            ],
        }
    ]
    promtool_test(promtool, env, model, tests, tmp_path)


@pytest.mark.parametrize("mode", MODES)
def test_burning_exactly_the_budget_is_silent(mode: str, promtool: str, tmp_path: Path) -> None:
    """0.1 % failures, exactly the budget (1×): neither page nor ticket, at any time."""
    env, model = in_mode(mode)
    tests = [
        {
            "input_series": traffic(mode, revision_of(mode), ok=59940, failed=60),
            "alert_rule_test": silent(BUDGET_BURN, "10m", "1h", "2h", "5h"),
        }
    ]
    promtool_test(promtool, env, model, tests, tmp_path)


@pytest.mark.parametrize("mode", MODES)
def test_slo_series_are_recorded(mode: str, promtool: str, tmp_path: Path) -> None:
    """A steady 1.5 % failures and 3 % of requests over 100 ms: the 5m ratios, the 30-day
    ratio (the mean of the 5m ones), burn rates, remaining budget and the info series."""
    env, model = in_mode(mode)
    latencies = {0.05: 955, 0.5: 30}  # 30 of every 1000 requests are slower than 0.1 s
    availability = f'{{{BASE}, slo="availability"}}'
    latency = f'{{{BASE}, slo="latency"}}'

    def sample(expr: str, labels: str, value: float) -> dict[str, Any]:
        return {
            "expr": f"round({expr}, 0.0001)",
            "eval_time": "4h",
            "exp_samples": [{"labels": labels, "value": value}],
        }

    info = (
        f'modelkiln_slo_info{{{BASE}, slo="latency", objective="99", mode="{mode}",'
        ' period="30d", latency_ms="100", bucket_seconds="0.1"}'
    )
    tests = [
        {
            "input_series": traffic(mode, revision_of(mode), 985, 15, latencies),
            "promql_expr_test": [
                sample(f"slo:sli_error:ratio_rate5m{availability}", availability, 0.015),
                sample(f"slo:sli_error:ratio_rate3d{availability}", availability, 0.015),
                sample(f"slo:sli_error:ratio_rate30d{availability}", availability, 0.015),
                sample(f"slo:current_burn_rate:ratio{availability}", availability, 15),
                sample(f"slo:period_burn_rate:ratio{availability}", availability, 15),
                sample(f"slo:period_error_budget_remaining:ratio{availability}", availability, -14),
                sample(f"slo:sli_error:ratio_rate5m{latency}", latency, 0.03),
                sample(f"slo:sli_error:ratio_rate1h{latency}", latency, 0.03),
                sample(f"slo:current_burn_rate:ratio{latency}", latency, 3),
                sample(f"slo:objective:ratio{latency}", latency, 0.99),
                sample(f"slo:error_budget:ratio{availability}", availability, 0.001),
                sample(f"slo:time_period:days{latency}", latency, 30),
                {
                    "expr": f"modelkiln_slo_info{latency}",
                    "eval_time": "4h",
                    "exp_samples": [{"labels": info, "value": 1}],
                },
            ],
        }
    ]
    promtool_test(promtool, env, model, tests, tmp_path)


@pytest.mark.parametrize("mode", MODES)
def test_no_traffic_records_nothing(mode: str, promtool: str, tmp_path: Path) -> None:
    """Without requests there is no ratio (never NaN) and no alert; with only successful
    requests the error ratio is 0, although no failed-request series exists yet."""
    env, model = in_mode(mode)
    availability = f'slo:sli_error:ratio_rate5m{{{BASE}, slo="availability"}}'
    tests = [
        {
            "input_series": traffic(mode, revision_of(mode), ok=0),
            "promql_expr_test": [
                {"expr": "slo:sli_error:ratio_rate5m", "eval_time": "30m", "exp_samples": []},
            ],
            "alert_rule_test": silent(BUDGET_BURN, "2h") + silent(LATENCY_BURN, "2h"),
        },
        {
            "input_series": traffic(mode, revision_of(mode), ok=100),
            "promql_expr_test": [
                {
                    "expr": "slo:sli_error:ratio_rate5m{slo='availability'}",
                    "eval_time": "30m",
                    "exp_samples": [{"labels": availability, "value": 0}],
                },
            ],
        },
    ]
    promtool_test(promtool, env, model, tests, tmp_path)


def test_standard_mode_pages_when_every_pod_is_gone(promtool: str, tmp_path: Path) -> None:
    """Standard mode: the model server counts nothing (no pod runs), the gateway answers
    503 to everything; the error ratio is 1, not absent, and the page fires."""
    env, model = in_mode("standard")
    page = severity(prometheus_rule(env, model), BUDGET_BURN, "page")
    tests = [
        {
            "input_series": gateway(revision_of("standard"), ok=0, failed=50, code="503"),
            "promql_expr_test": [
                {
                    "expr": "slo:sli_error:ratio_rate5m{slo='availability'}",
                    "eval_time": "30m",
                    "exp_samples": [
                        {
                            "labels": f'slo:sli_error:ratio_rate5m{{{BASE}, slo="availability"}}',
                            "value": 1,
                        }
                    ],
                },
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": BUDGET_BURN, "exp_alerts": [page]},
            ],
        }
    ]
    promtool_test(promtool, env, model, tests, tmp_path)


def test_a_laxer_objective_tolerates_the_same_failures(promtool: str, tmp_path: Path) -> None:
    """The same 1.5 % failures against 99 % (a 1 % budget) is a 1.5× burn: a ticket only."""
    env, model = in_mode("knative")
    assert model.serving is not None
    lax = replace(model, serving=replace(model.serving, availability=99.0))
    ticket = severity(prometheus_rule(env, lax), BUDGET_BURN, "ticket")
    tests = [
        {
            "input_series": traffic("knative", revision_of("knative"), ok=985, failed=15),
            "alert_rule_test": [
                *silent(BUDGET_BURN, "10m"),  # no page, ever
                {"eval_time": "1h", "alertname": BUDGET_BURN, "exp_alerts": [ticket]},
                {"eval_time": "4h", "alertname": BUDGET_BURN, "exp_alerts": [ticket]},
            ],
        }
    ]
    promtool_test(promtool, env, lax, tests, tmp_path)


# --- latency --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_fast_latency_burn_pages(mode: str, promtool: str, tmp_path: Path) -> None:
    """20 % of requests slower than the 100 ms objective against a 1 % budget: 20×, a
    page after 2m, and the ticket as well by 2h."""
    env, model = in_mode(mode)
    rule = prometheus_rule(env, model)
    page, ticket = severity(rule, LATENCY_BURN, "page"), severity(rule, LATENCY_BURN, "ticket")
    latencies = {0.03: 500, 0.09: 300, 0.2: 150, 0.7: 50}
    tests = [
        {
            "input_series": traffic(mode, revision_of(mode), ok=1000, latencies=latencies),
            "alert_rule_test": [
                *silent(LATENCY_BURN, "1m"),
                {"eval_time": "10m", "alertname": LATENCY_BURN, "exp_alerts": [page]},
                {"eval_time": "2h", "alertname": LATENCY_BURN, "exp_alerts": [page, ticket]},
            ],
        }
    ]
    promtool_test(promtool, env, model, tests, tmp_path)


@pytest.mark.parametrize("mode", MODES)
def test_slow_latency_burn_opens_a_ticket(mode: str, promtool: str, tmp_path: Path) -> None:
    """4 % of requests over 100 ms (4×): a ticket, no page (6× and 14.4× not reached)."""
    env, model = in_mode(mode)
    ticket = severity(prometheus_rule(env, model), LATENCY_BURN, "ticket")
    tests = [
        {
            "input_series": traffic(mode, revision_of(mode), 1000, latencies={0.04: 960, 0.3: 40}),
            "alert_rule_test": [
                *silent(LATENCY_BURN, "10m"),
                {"eval_time": "1h", "alertname": LATENCY_BURN, "exp_alerts": [ticket]},
                {"eval_time": "4h", "alertname": LATENCY_BURN, "exp_alerts": [ticket]},
            ],
        }
    ]
    promtool_test(promtool, env, model, tests, tmp_path)


@pytest.mark.parametrize("mode", MODES)
def test_latency_within_objective_is_silent(mode: str, promtool: str, tmp_path: Path) -> None:
    """0.5 % of requests over 100 ms (p99 is under it): no latency alert at any time."""
    env, model = in_mode(mode)
    latencies = {0.02: 900, 0.08: 95, 0.3: 5}
    tests = [
        {
            "input_series": traffic(mode, revision_of(mode), 1000, latencies=latencies),
            "alert_rule_test": silent(LATENCY_BURN, "10m", "1h", "2h", "5h"),
        }
    ]
    promtool_test(promtool, env, model, tests, tmp_path)


@pytest.mark.parametrize("mode", MODES)
def test_a_whole_second_objective_reads_either_spelling(
    mode: str, promtool: str, tmp_path: Path
) -> None:
    """latencyP99Ms 1000 reads le="1" (Go, Knative) and le="1.0" (Python, Standard) alike:
    2 % of requests over 1 s is a 2× burn, recorded as 0.02 (not absent, not 1)."""
    env, model = in_mode(mode)
    assert model.serving is not None
    second = replace(model, serving=replace(model.serving, latency_p99_ms=1000.0))
    latency = f'{{{BASE}, slo="latency"}}'
    tests = [
        {
            "input_series": traffic(mode, revision_of(mode), 100, latencies={0.8: 98, 3: 2}),
            "promql_expr_test": [
                {
                    "expr": "round(slo:sli_error:ratio_rate5m{slo='latency'}, 0.0001)",
                    "eval_time": "30m",
                    "exp_samples": [{"labels": latency, "value": 0.02}],
                }
            ],
        }
    ]
    promtool_test(promtool, env, second, tests, tmp_path)


# --- rollback ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_rollback_alerts_name_the_bad_revision(mode: str, promtool: str, tmp_path: Path) -> None:
    """One revision fails 5 % (threshold 1 %) with requests of 250-500 ms (p99 threshold
    200 ms); the other is healthy: both rollback alerts fire, for the bad one only. In
    Knative mode the bad one is the canary revision 00002; Standard mode has one
    Deployment per predictor, so the same failures there name it."""
    env, model = in_mode(mode)
    rule = prometheus_rule(env, model)
    errors, latency = (
        alerts_named_one(rule, ROLLOUT_ERRORS),
        alerts_named_one(rule, ROLLOUT_LATENCY),
    )
    if mode == "knative":
        bad, good = revision_of(mode, 2), revision_of(mode, 1)
        series = traffic(mode, good, 1000) + traffic(mode, bad, 95, 5, {0.3: 95})
    else:
        bad = revision_of(mode)
        series = traffic(mode, bad, 95, 5, {0.3: 95})
    tests = [
        {
            "input_series": series,
            "alert_rule_test": [
                *silent(ROLLOUT_ERRORS, "1m"),
                *silent(ROLLOUT_LATENCY, "1m"),
                {
                    "eval_time": "10m",
                    "alertname": ROLLOUT_ERRORS,
                    "exp_alerts": [expected(errors, revision_name=bad)],
                },
                {
                    "eval_time": "10m",
                    "alertname": ROLLOUT_LATENCY,
                    "exp_alerts": [expected(latency, revision_name=bad)],
                },
            ],
        }
    ]
    promtool_test(promtool, env, model, tests, tmp_path)


@pytest.mark.parametrize("mode", MODES)
def test_healthy_revisions_ask_for_no_rollback(mode: str, promtool: str, tmp_path: Path) -> None:
    """0.5 % failures (threshold 1 %) at 50 ms (threshold 200 ms), for both revisions."""
    env, model = in_mode(mode)
    series = traffic(mode, revision_of(mode, 1), 995, 5, {0.05: 995})
    if mode == "knative":
        series += traffic(mode, revision_of(mode, 2), 199, 1, {0.05: 199})
    tests = [
        {
            "input_series": series,
            "alert_rule_test": silent(ROLLOUT_ERRORS, "10m", "1h")
            + silent(ROLLOUT_LATENCY, "10m", "1h"),
        }
    ]
    promtool_test(promtool, env, model, tests, tmp_path)


def alerts_named_one(rule: dict[str, Any], name: str) -> dict[str, Any]:
    (alert,) = alerts_named(rule, name)
    return alert


# --- drift ---------------------------------------------------------------------------------

SCORE = 'modelkiln_drift_score{model="fraud-detector", environment="prod", method="psi", '
LAST_RUN = (
    'modelkiln_drift_last_run_timestamp_seconds{model="fraud-detector", environment="prod",'
    ' job="drift"}'
)


def test_drifted_feature_raises_a_ticket(promtool: str, tmp_path: Path) -> None:
    """amount's PSI stays at 0.35 (threshold 0.2) for over 15m; merchant's at 0.05."""
    env, model = in_mode("knative")
    drift = alerts_named_one(prometheus_rule(env, model), DATA_DRIFT)
    tests = [
        {
            "input_series": [
                {"series": SCORE + 'feature="amount"}', "values": "0.35x60"},
                {"series": SCORE + 'feature="merchant"}', "values": "0.05x60"},
                {"series": LAST_RUN, "values": "0+60x60"},
            ],
            "alert_rule_test": [
                *silent(DATA_DRIFT, "10m"),
                {
                    "eval_time": "20m",
                    "alertname": DATA_DRIFT,
                    "exp_alerts": [expected(drift, feature="amount")],
                },
                *silent(DRIFT_STALE, "50m"),
            ],
        },
        {  # below the threshold, or above it only briefly
            "input_series": [
                {"series": SCORE + 'feature="amount"}', "values": "0.15x60"},
                {"series": SCORE + 'feature="merchant"}', "values": "0.05x5 0.4x5 0.05x50"},
            ],
            "alert_rule_test": silent(DATA_DRIFT, "5m", "9m", "20m", "50m"),
        },
    ]
    promtool_test(promtool, env, model, tests, tmp_path)


def test_stale_or_missing_drift_job_raises_a_ticket(promtool: str, tmp_path: Path) -> None:
    """The job runs hourly (bound: 3h). Its last run at 0 is stale after 3h; a job that
    never reported is missing after 3h; a job that keeps reporting is neither."""
    env, model = in_mode("knative")
    stale, missing = alerts_named_pair(prometheus_rule(env, model), DRIFT_STALE)
    tests = [
        {
            "input_series": [{"series": LAST_RUN, "values": f"0x{4 * 60}"}],
            "alert_rule_test": [
                *silent(DRIFT_STALE, "1h", "2h59m"),
                {
                    "eval_time": "3h10m",
                    "alertname": DRIFT_STALE,
                    "exp_alerts": [expected(stale)],
                },
            ],
        },
        {
            "input_series": [{"series": 'up{job="other"}', "values": f"1x{4 * 60}"}],
            "alert_rule_test": [
                *silent(DRIFT_STALE, "1h", "2h50m"),
                {"eval_time": "3h10m", "alertname": DRIFT_STALE, "exp_alerts": [expected(missing)]},
            ],
        },
        {  # hourly runs (timestamps in seconds, as the job pushes time.time())
            "input_series": [
                {
                    "series": LAST_RUN,
                    "values": " ".join(str(3600 * (m // 60)) for m in range(5 * 60)),
                }
            ],
            "alert_rule_test": silent(DRIFT_STALE, "1h", "3h10m", "4h50m"),
        },
    ]
    promtool_test(promtool, env, model, tests, tmp_path)


def alerts_named_pair(rule: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    alerts = alerts_named(rule, name)
    stale = next(a for a in alerts if a["labels"]["reason"] == "stale")
    missing = next(a for a in alerts if a["labels"]["reason"] == "missing")
    return stale, missing
