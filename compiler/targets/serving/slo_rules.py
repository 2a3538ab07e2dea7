"""The SLO rules of one served model in one environment, per SLI (availability, latency), at
the level of Sloth v0.16.0 (slok/sloth, whose output the names and shapes follow):

* ``slo:sli_error:ratio_rate<w>`` for w in 5m 30m 1h 2h 6h 1d 3d: the SLI's error ratio
  (Sloth: pkg/common/model/alert.go TimeDurationWindows, the windows its alerts use).
* ``slo:sli_error:ratio_rate30d``: the mean of the 5m ratio over the 30-day period,
  ``sum_over_time(5m[30d]) / count_over_time(5m[30d])`` (Sloth's default "optimized" SLI,
  internal/plugin/slo/core/sli_rules_v1/plugin.go:178): a 30-day rate() over raw counters
  would be costly and breaks on every counter reset of a replaced pod.
* ``slo:objective:ratio``, ``slo:error_budget:ratio``, ``slo:time_period:days``,
  ``slo:current_burn_rate:ratio`` (5m ratio / budget), ``slo:period_burn_rate:ratio``
  (30d ratio / budget), ``slo:period_error_budget_remaining:ratio`` (1 - period burn) and
  ``modelkiln_slo_info`` (like ``sloth_slo_info``: objective, mode, period)
  (Sloth: internal/plugin/slo/core/metadata_rules_v1/plugin.go).
* Multi-window multi-burn-rate alerts, the SRE workbook's (chapter 5) with Sloth's windows
  for a 30-day period (internal/alert/windows/google-30d.yaml) and its factor
  ``budget% × period / long window`` (internal/alert/window.go getBurnRateFactor):

  ========  ===============  ============  ===========  ======
  severity  budget consumed  long window   short window factor
  ========  ===============  ============  ===========  ======
  page      2 %              1h            5m           14.4
  page      5 %              6h            30m          6
  ticket    10 %             1d            2h           3
  ticket    10 %             3d            6h           1
  ========  ===============  ============  ===========  ======

Where this goes beyond Sloth: a model without traffic has no ratio at all (the denominator
is filtered ``> 0``), never a NaN an alert could trip on, and its numerator falls back to 0
before the first failed request; the burn rates divide by the budget as a constant, so no
rule depends on another group having been evaluated first. Rules of one group run in
order, so the 30d ratio and the burn rates read this evaluation's 5m ratio.

Latency is an SLI of its own: the fraction of requests slower than the objective,
``1 - bucket{le=<latencyP99Ms in s>} / count``, with an objective of 99 % (that is what a
p99 objective means) and the same burn-rate alerts on its 1 % budget.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from compiler.plan import EnvironmentPlan, ModelPlan
from compiler.serving_metrics import MetricsPlan, Series, le_text, measured_bound
from compiler.spec.types import duration_seconds
from compiler.targets.serving.promql import budget, decimal, le_matcher, matchers, num

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
PERIOD = "30d"
ERROR_RATIO = "slo:sli_error:ratio_rate"  # + window
OBJECTIVE = "slo:objective:ratio"
ERROR_BUDGET = "slo:error_budget:ratio"
TIME_PERIOD = "slo:time_period:days"
CURRENT_BURN = "slo:current_burn_rate:ratio"
PERIOD_BURN = "slo:period_burn_rate:ratio"
BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"
SLO_INFO = "modelkiln_slo_info"

AVAILABILITY_BURN = "ModelAvailabilityBudgetBurn"
LATENCY_BURN = "ModelLatencyBudgetBurn"
LATENCY_OBJECTIVE = Decimal(99)  # percent of requests under latencyP99Ms
HOLD = {"page": "2m", "ticket": "15m"}  # a burn must last this long: one bad scrape is not one


@dataclass(frozen=True)
class BurnWindow:
    severity: str  # page | ticket
    budget_percent: int  # of the period's budget consumed at this speed within `long`
    short: str
    long: str

    @functools.cached_property
    def factor(self) -> Decimal:
        period_hours = Decimal(int(duration_seconds(PERIOD))) / 3600
        long_hours = Decimal(int(duration_seconds(self.long))) / 3600
        return (self.budget_percent * period_hours / 100 / long_hours).normalize()


MWMB = (
    BurnWindow("page", 2, "5m", "1h"),
    BurnWindow("page", 5, "30m", "6h"),
    BurnWindow("ticket", 10, "2h", "1d"),
    BurnWindow("ticket", 10, "6h", "3d"),
)


@dataclass(frozen=True)
class Sli:
    slo: str  # availability | latency
    alert: str
    objective: Decimal  # percent
    ratio: Callable[[str], str]  # window -> the error ratio's PromQL
    info: tuple[tuple[str, str], ...]  # extra labels of the info series
    bad: str  # what an error is, for people: "failed requests"
    goal: str  # the objective, for people: "99.9% of requests succeed"

    @property
    def budget(self) -> Decimal:
        return budget(float(self.objective))


def slis(env: EnvironmentPlan, model: ModelPlan) -> tuple[Sli, Sli]:
    s = model.serving
    assert s is not None
    m = s.metrics
    assert s.latency_p99_ms is not None  # a language model's SLIs are compiler/llm's
    bound = measured_bound(s.latency_p99_ms, m.buckets)
    availability = Sli(
        "availability",
        AVAILABILITY_BURN,
        decimal(s.availability),
        _error_ratio(m),
        (),
        "failed requests",
        f"{num(s.availability)}% of requests succeed",
    )
    latency = Sli(
        "latency",
        LATENCY_BURN,
        LATENCY_OBJECTIVE,
        _slow_ratio(m, bound),
        (("latency_ms", num(s.latency_p99_ms)), ("bucket_seconds", le_text(bound))),
        f"requests slower than {num(bound * 1000)} ms",
        f"{num(LATENCY_OBJECTIVE)}% of requests within {num(s.latency_p99_ms)} ms",
    )
    return availability, latency


def _rate(series: str) -> str:
    """sum(rate(series[{w}])): the window is filled in per rule."""
    return "sum(rate(" + series.replace("{", "{{").replace("}", "}}") + "[{w}]))"


def _error_ratio(m: MetricsPlan) -> Callable[[str], str]:
    return error_ratio(m.requests, m.errors, m.separate_errors)


def error_ratio(requests: Series, errors: Series, separate: bool) -> Callable[[str], str]:
    """Failed / all requests over a window; `separate`: failures counted by a counter of
    their own (in front of the model server), else matchers on the request counter."""
    failed, total = _rate(errors()), _rate(requests())
    if not separate:
        template = f"({failed} or vector(0)) / ({total} > 0)"
    else:
        # Failures counted in front of the model server (Standard mode's ingress): when the
        # server counts nothing at all (every pod gone) but the ingress sees failures, the
        # ratio is 1, not absent; an ingress can fail requests the server never saw: cap 1.
        template = f"clamp_max(({failed} or vector(0)) / (({total} > 0) or ({failed} > 0)), 1)"
    return lambda w: template.format(w=w)


def _slow_ratio(m: MetricsPlan, bound: Decimal) -> Callable[[str], str]:
    return slow_ratio(m.latency_bucket, m.latency_count, bound)


def slow_ratio(bucket: Series, count: Series, bound: Decimal) -> Callable[[str], str]:
    """The share of a histogram's observations above `bound` (a boundary) over a window."""
    fast = _rate(bucket(le_matcher(bound)))
    total = _rate(count())
    template = f"1 - {fast} / ({total} > 0)"
    return lambda w: template.format(w=w)


# --- recording rules -----------------------------------------------------------------------


def records(env: EnvironmentPlan, sli: Sli, base: dict[str, str]) -> list[dict[str, Any]]:
    labels = {**base, "slo": sli.slo}
    selector = "{" + matchers(labels) + "}"
    five = f"{ERROR_RATIO}5m{selector}"
    eb = num(sli.budget)
    rules: list[dict[str, Any]] = [
        {"record": ERROR_RATIO + w, "expr": sli.ratio(w), "labels": dict(labels)} for w in WINDOWS
    ]
    period = f"sum_over_time({five}[{PERIOD}]) / count_over_time({five}[{PERIOD}])"
    info = {
        **labels,
        "objective": num(sli.objective),
        "mode": env.serving_mode,
        "period": PERIOD,
        **dict(sli.info),
    }
    for record, expr, extra in (
        (ERROR_RATIO + PERIOD, period, labels),
        (OBJECTIVE, f"vector({num(sli.objective / 100)})", labels),
        (ERROR_BUDGET, f"vector({eb})", labels),
        (TIME_PERIOD, f"vector({int(duration_seconds(PERIOD) // 86400)})", labels),
        (CURRENT_BURN, f"{five} / {eb}", labels),
        (PERIOD_BURN, f"{ERROR_RATIO}{PERIOD}{selector} / {eb}", labels),
        (BUDGET_REMAINING, f"1 - {PERIOD_BURN}{selector}", labels),
        (SLO_INFO, "vector(1)", info),
    ):
        rules.append({"record": record, "expr": expr, "labels": dict(extra)})
    return rules


# --- alerts --------------------------------------------------------------------------------


def alerts(
    env: EnvironmentPlan,
    model: ModelPlan,
    sli: Sli,
    labels: dict[str, str],
    annotations: Callable[[str], dict[str, str]],
) -> list[dict[str, Any]]:
    """The page and the ticket of one SLI (one alert name; severity tells them apart, so
    Alertmanager can inhibit the ticket while the page fires). `labels` are the alert's
    own (model, environment, namespace); `annotations` adds the runbook of an alert."""
    recorded = {"model": labels["model"], "environment": labels["environment"], "slo": sli.slo}
    selector = "{" + matchers(recorded) + "}"
    eb = num(sli.budget)
    rules: list[dict[str, Any]] = []
    for severity in ("page", "ticket"):
        windows = [w for w in MWMB if w.severity == severity]
        conditions = [
            f"({ERROR_RATIO}{w.short}{selector} > ({num(w.factor)} * {eb})"
            f" and {ERROR_RATIO}{w.long}{selector} > ({num(w.factor)} * {eb}))"
            for w in windows
        ]
        rules.append(
            {
                "alert": sli.alert,
                "expr": " or ".join(conditions),
                "for": HOLD[severity],
                "labels": {"severity": severity, **labels, "slo": sli.slo},
                "annotations": {
                    **_text(env, model, sli, severity, windows),
                    **annotations(sli.alert),
                },
            }
        )
    return rules


def _text(
    env: EnvironmentPlan, model: ModelPlan, sli: Sli, severity: str, windows: list[BurnWindow]
) -> dict[str, str]:
    speed = "fast" if severity == "page" else "steadily"
    spent = ", or ".join(
        f"above {num(w.factor)}× the budget over both {w.long} and {w.short}"
        f" ({w.budget_percent}% of the 30-day budget in {w.long})"
        for w in windows
    )
    return {
        "summary": f"Model {model.name} in {env.name} is burning its {sli.slo} error budget"
        f" {speed} (objective: {sli.goal})",
        "description": f"The ratio of {sli.bad} of model {model.name} in environment"
        f" {env.name} (namespace {env.namespace}) has been {spent}. The budget is"
        f" {num(sli.budget * 100)}% of requests over 30 days.",
    }
