"""The PrometheusRule of a language model in one environment: token SLOs on vLLM's own
metrics (docs/llm.md "Token SLOs"; the series and defaults: compiler/llm/metrics.py, vLLM
0.24.0). The same shape as a request-level model's (compiler/targets/serving/alerts.py,
slo_rules.py: Sloth's recording rules and the SRE workbook's multi-window multi-burn-rate
page and ticket), with three SLIs:

``availability``
    failed / all requests, against serving.llm.slo.availability; alert
    ``ModelAvailabilityBudgetBurn``.
``ttft``
    the share of requests whose first token came later than ttftP95Ms:
    ``1 - ttft_bucket{le=<ttftP95Ms in s>} / ttft_count``, objective 95 % (that is what a p95
    objective means), alert ``LlmTimeToFirstTokenBudgetBurn``.
``tpot``
    the same on the per-request mean time per output token and tpotP95Ms, alert
    ``LlmTimePerOutputTokenBudgetBurn``.

An objective that is not a bucket boundary is measured at the nearest boundary below it
(MK390, or MK406 under policies.strictLatencyBuckets)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from compiler.llm import LlmMetrics
from compiler.plan import EnvironmentPlan, ModelPlan
from compiler.serving_metrics import Series, le_text, measured_bound
from compiler.targets.serving.alerts import drift_groups, rule_object, slo_groups
from compiler.targets.serving.promql import decimal, num
from compiler.targets.serving.slo_rules import AVAILABILITY_BURN, Sli, error_ratio, slow_ratio

TTFT_BURN = "LlmTimeToFirstTokenBudgetBurn"
TPOT_BURN = "LlmTimePerOutputTokenBudgetBurn"
TOKEN_OBJECTIVE = Decimal(95)  # percent of requests within a p95 objective


def _series(metric: str, m: LlmMetrics) -> Series:
    return Series(metric, m.selector, "pod", "(.+)")


def _token_sli(
    slo: str,
    alert: str,
    histogram: str,
    objective_ms: float,
    bounds: tuple[float, ...],
    m: LlmMetrics,
    what: str,
) -> Sli:
    bound = measured_bound(objective_ms, bounds)
    ratio = slow_ratio(_series(f"{histogram}_bucket", m), _series(f"{histogram}_count", m), bound)
    return Sli(
        slo,
        alert,
        TOKEN_OBJECTIVE,
        ratio,
        ((f"{slo}_ms", num(objective_ms)), ("bucket_seconds", le_text(bound))),
        f"requests with a {what} over {num(bound * 1000)} ms",
        f"{num(TOKEN_OBJECTIVE)}% of requests with a {what} within {num(objective_ms)} ms",
    )


def slis(model: ModelPlan) -> tuple[Sli, Sli, Sli]:
    assert model.serving is not None and model.serving.llm is not None
    llm = model.serving.llm
    m = llm.metrics
    assert m.errors is not None  # compiler/llm/metrics.py resolves it
    availability = Sli(
        "availability",
        AVAILABILITY_BURN,
        decimal(llm.availability),
        error_ratio(_series(m.requests, m), m.errors, m.separate_errors),
        (),
        "failed requests",
        f"{num(llm.availability)}% of requests succeed",
    )
    ttft = _token_sli(
        "ttft", TTFT_BURN, m.ttft, llm.ttft_p95_ms, m.ttft_buckets, m, "time to first token"
    )
    tpot = _token_sli(
        "tpot", TPOT_BURN, m.tpot, llm.tpot_p95_ms, m.tpot_buckets, m, "time per output token"
    )
    return availability, ttft, tpot


def llm_prometheus_rule(env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    """The PrometheusRule (monitoring.coreos.com/v1) of a language model."""
    groups = slo_groups(env, model, slis(model))
    return rule_object(env, model, [*groups, *drift_groups(env, model)])
