"""The PrometheusRule of one served Model in one environment: SLO recording rules and alerts.

Groups, in order (the last two only when they have rules):

``<model>-slo-availability``
    ``slo:sli_error:ratio_rate<w>`` for w in 5m 30m 1h 2h 6h 1d 3d: failed / all requests
    of the model's series (``sum(rate(errors[w])) / sum(rate(requests[w]))``). The
    denominator is filtered ``> 0``, so a model without traffic has no series (never a NaN
    that an alert could trip on); the numerator falls back to 0 when no failed request has
    been seen yet (counters of an error class appear only with its first request). Plus the
    constants ``slo:objective:ratio`` (availability / 100) and ``slo:error_budget:ratio``.
``<model>-slo-latency``
    ``slo:latency_p99:5m`` and ``slo:latency_p99:1h`` (histogram_quantile over the summed
    buckets, empty without traffic) and ``slo:sli_latency:ratio_rate5m``, the fraction of
    requests slower than the p99 target: ``1 - bucket{le="<target>"} / bucket{le="+Inf"}``.
    That ratio is only meaningful when the target is a bucket boundary of the histogram; when
    it is not, the ``le`` matcher matches nothing and the series is simply absent. The latency
    alert therefore uses the p99 form, which works for any target.
``<model>-slo-alerts``
    Multi-window, multi-burn-rate alerts on a 30-day error budget (Google SRE workbook,
    chapter 5, as Sloth and kubernetes-mixin generate them). Both severities share the alert
    name ``ModelAvailabilityBudgetBurn``; the ``severity`` label tells them apart, so
    Alertmanager routes on severity and can inhibit the ticket while the page fires
    (``equal: [alertname, model, environment]``).

    ========  ================================================  ======  ================
    severity  condition (error ratio > factor × error budget)   for     budget spent
    ========  ================================================  ======  ================
    page      1h and 5m > 14.4×, or 6h and 30m > 6×             2m      2 % / 1h, 5 % / 6h
    ticket    1d and 2h > 3×, or 3d and 6h > 1×                 15m     10 % / 1d, 10 % / 3d
    ========  ================================================  ======  ================

    ``ModelLatencyP99High`` (page): p99 over 5m and over 1h above ``latencyP99Ms``.
``<model>-rollout`` (canary rollouts with rollback thresholds only)
    ``ModelRolloutErrorRateHigh`` and ``ModelRolloutLatencyHigh``, per ``revision_name`` over
    5m, labelled ``modelkiln_rollback: "true"`` for rollback automation.
``<model>-drift`` (models with drift monitoring only)
    ``ModelDataDrift`` (ticket) when a feature's ``modelkiln_drift_score`` stays above the
    threshold for 15m, and ``ModelDriftJobStale`` (ticket) when the drift job's last run
    (``modelkiln_drift_last_run_timestamp_seconds``) is older than three schedule periods,
    or when no run has been reported for that long. The period is the longest gap between
    two consecutive runs of the cron schedule (``0 * * * *`` → 1h, so 3h).

Every recorded series and every alert carries ``model``, ``environment`` and ``slo``
(availability | latency | rollout | drift) labels. Thresholds are written into the
expressions as constants, so the rules do not depend on evaluation order between groups.
"""

from __future__ import annotations

import functools
import itertools
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from compiler.plan import MANAGED_BY, EnvironmentPlan, ModelPlan, RequestMetrics
from compiler.spec.types import cron_fields

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
ERROR_RATIO = "slo:sli_error:ratio_rate"  # + window
OBJECTIVE = "slo:objective:ratio"
ERROR_BUDGET = "slo:error_budget:ratio"
LATENCY_P99 = "slo:latency_p99:"  # + window
LATENCY_RATIO = "slo:sli_latency:ratio_rate5m"
INF = 'le="+Inf"'

BUDGET_BURN = "ModelAvailabilityBudgetBurn"
LATENCY_HIGH = "ModelLatencyP99High"
ROLLOUT_ERRORS = "ModelRolloutErrorRateHigh"
ROLLOUT_LATENCY = "ModelRolloutLatencyHigh"
DATA_DRIFT = "ModelDataDrift"
DRIFT_STALE = "ModelDriftJobStale"
ROLLBACK_LABEL = "modelkiln_rollback"

# The series the drift job pushes (labels model, environment, method, feature).
DRIFT_SCORE = "modelkiln_drift_score"
DRIFT_LAST_RUN = "modelkiln_drift_last_run_timestamp_seconds"

# (severity, for, ((burn factor, long window, short window), ...)) on a 30-day budget
BURN_RATES: tuple[tuple[str, str, tuple[tuple[float, str, str], ...]], ...] = (
    ("page", "2m", ((14.4, "1h", "5m"), (6, "6h", "30m"))),
    ("ticket", "15m", ((3, "1d", "2h"), (1, "3d", "6h"))),
)
DRIFT_FOR = "15m"
STALE_PERIODS = 3


def prometheus_rule(env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    """The PrometheusRule (monitoring.coreos.com/v1) of a served model."""
    s = model.serving
    assert s is not None
    base = {"model": model.name, "environment": env.name}
    groups: list[dict[str, Any]] = [
        {"name": f"{model.name}-slo-availability", "rules": _availability_records(model, base)},
        {"name": f"{model.name}-slo-latency", "rules": _latency_records(model, base)},
        {"name": f"{model.name}-slo-alerts", "rules": _slo_alerts(env, model, base)},
    ]
    rollout = _rollout_alerts(env, model, base)
    if rollout:
        groups.append({"name": f"{model.name}-rollout", "rules": rollout})
    drift = _drift_alerts(env, model, base)
    if drift:
        groups.append({"name": f"{model.name}-drift", "rules": drift})
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": f"{model.name}-slo",
            "namespace": env.namespace,
            "labels": {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "modelkiln.dev/model": model.name,
                "modelkiln.dev/environment": env.name,
            },
        },
        "spec": {"groups": groups},
    }


# --- recording rules -------------------------------------------------------------------------


def _availability_records(model: ModelPlan, base: dict[str, str]) -> list[dict[str, Any]]:
    s = model.serving
    assert s is not None
    m = s.metrics
    labels = {**base, "slo": "availability"}
    rules: list[dict[str, Any]] = []
    for w in WINDOWS:
        errors = f"sum(rate({_series(m.requests, m.selector, m.errors)}[{w}]))"
        total = f"sum(rate({_series(m.requests, m.selector)}[{w}]))"
        rules.append(
            {
                "record": ERROR_RATIO + w,
                "expr": f"({errors} or vector(0)) / ({total} > 0)",
                "labels": dict(labels),
            }
        )
    for record, value in (
        (OBJECTIVE, _objective(s.availability)),
        (ERROR_BUDGET, _budget(s.availability)),
    ):
        rules.append({"record": record, "expr": f"vector({_num(value)})", "labels": dict(labels)})
    return rules


def _latency_records(model: ModelPlan, base: dict[str, str]) -> list[dict[str, Any]]:
    s = model.serving
    assert s is not None
    m = s.metrics
    labels = {**base, "slo": "latency"}
    rules: list[dict[str, Any]] = [
        {"record": LATENCY_P99 + w, "expr": _p99(m, w), "labels": dict(labels)}
        for w in ("5m", "1h")
    ]
    target = _le_matcher(m.latency_threshold(s.latency_p99_ms))
    within = f"sum(rate({_series(m.latency_bucket, m.selector, target)}[5m]))"
    everything = f"sum(rate({_series(m.latency_bucket, m.selector, INF)}[5m]))"
    rules.append(
        {
            "record": LATENCY_RATIO,
            "expr": f"1 - {within} / ({everything} > 0)",
            "labels": dict(labels),
        }
    )
    return rules


def _p99(m: RequestMetrics, window: str, by: str = "") -> str:
    """p99 of the model's histogram over window; empty (not NaN) without traffic."""
    keys = f"{by}, le" if by else "le"
    buckets = f"sum by ({keys}) (rate({_series(m.latency_bucket, m.selector)}[{window}]))"
    if by:  # per group: NaN > x is false, so a group without traffic never alerts
        return f"histogram_quantile(0.99, {buckets})"
    inf = _series(m.latency_bucket, m.selector, INF)
    return f"histogram_quantile(0.99, {buckets}) and on() (sum(rate({inf}[{window}])) > 0)"


# --- alerts ----------------------------------------------------------------------------------


def _slo_alerts(
    env: EnvironmentPlan, model: ModelPlan, base: dict[str, str]
) -> list[dict[str, Any]]:
    s = model.serving
    assert s is not None
    selector = _matchers({**base, "slo": "availability"})
    budget = _num(_budget(s.availability))
    objective = f"{_num(s.availability)}%"
    rules: list[dict[str, Any]] = []
    for severity, hold, pairs in BURN_RATES:
        conditions = [
            f"({ERROR_RATIO}{long}{{{selector}}} > ({_num(f)} * {budget})"
            f" and {ERROR_RATIO}{short}{{{selector}}} > ({_num(f)} * {budget}))"
            for f, long, short in pairs
        ]
        windows = ", or ".join(
            f"above {_num(f)}× the error budget over both {long} and {short}"
            for f, long, short in pairs
        )
        speed = "fast" if severity == "page" else "steadily"
        rules.append(
            {
                "alert": BUDGET_BURN,
                "expr": " or ".join(conditions),
                "for": hold,
                "labels": {"severity": severity, **base, "slo": "availability"},
                "annotations": {
                    "summary": (
                        f"Model {model.name} in {env.name} is burning its {objective}"
                        f" availability error budget {speed}"
                    ),
                    "description": (
                        f"The error ratio of model {model.name} in environment {env.name}"
                        f" (namespace {env.namespace}) has been {windows}. Objective:"
                        f" {objective} availability, an error budget of {budget} of requests"
                        " over 30 days."
                    ),
                },
            }
        )
    limit = _num(s.metrics.latency_threshold(s.latency_p99_ms))
    unit = s.metrics.latency_unit
    latency = _matchers({**base, "slo": "latency"})
    rules.append(
        {
            "alert": LATENCY_HIGH,
            "expr": (
                f"{LATENCY_P99}5m{{{latency}}} > {limit} and {LATENCY_P99}1h{{{latency}}} > {limit}"
            ),
            "for": "5m",
            "labels": {"severity": "page", **base, "slo": "latency"},
            "annotations": {
                "summary": (
                    f"Model {model.name} in {env.name} is slower than its p99 objective"
                    f" of {_num(s.latency_p99_ms)} ms"
                ),
                "description": (
                    f"The p99 latency of model {model.name} in environment {env.name}"
                    f" (namespace {env.namespace}) has been above {limit} {unit} over both"
                    " the last 5 minutes and the last hour"
                    f" (objective: p99 {_num(s.latency_p99_ms)} ms)."
                ),
            },
        }
    )
    return rules


def _rollout_alerts(
    env: EnvironmentPlan, model: ModelPlan, base: dict[str, str]
) -> list[dict[str, Any]]:
    s = model.serving
    assert s is not None
    if s.strategy != "canary":
        return []
    m = s.metrics
    labels = {"severity": "page", ROLLBACK_LABEL: "true", **base, "slo": "rollout"}
    how = (
        f"Roll back by reverting the commit that changed the version of Model {model.name}"
        " in git; the GitOps sync restores the previous revision."
    )
    rules: list[dict[str, Any]] = []
    if s.max_error_rate is not None:
        errors = f"sum by (revision_name) (rate({_series(m.requests, m.selector, m.errors)}[5m]))"
        total = f"sum by (revision_name) (rate({_series(m.requests, m.selector)}[5m]))"
        rules.append(
            {
                "alert": ROLLOUT_ERRORS,
                "expr": f"{errors} / ({total} > 0) > {_num(s.max_error_rate)}",
                "for": "2m",
                "labels": dict(labels),
                "annotations": {
                    "summary": (
                        f"Revision {{{{ $labels.revision_name }}}} of model {model.name}"
                        f" in {env.name} fails more than {_percent(s.max_error_rate)} of"
                        " requests"
                    ),
                    "description": (
                        f"The 5-minute error ratio of revision {{{{ $labels.revision_name }}}}"
                        f" of model {model.name} in environment {env.name} is above the"
                        f" rollback threshold {_percent(s.max_error_rate)}. {how}"
                    ),
                },
            }
        )
    if s.max_latency_p99_ms is not None:
        limit = _num(m.latency_threshold(s.max_latency_p99_ms))
        rules.append(
            {
                "alert": ROLLOUT_LATENCY,
                "expr": f"{_p99(m, '5m', by='revision_name')} > {limit}",
                "for": "2m",
                "labels": dict(labels),
                "annotations": {
                    "summary": (
                        f"Revision {{{{ $labels.revision_name }}}} of model {model.name}"
                        f" in {env.name} has p99 latency above"
                        f" {_num(s.max_latency_p99_ms)} ms"
                    ),
                    "description": (
                        f"The 5-minute p99 latency of revision {{{{ $labels.revision_name }}}}"
                        f" of model {model.name} in environment {env.name} is above the"
                        f" rollback threshold {limit} {m.latency_unit}. {how}"
                    ),
                },
            }
        )
    return rules


def _drift_alerts(
    env: EnvironmentPlan, model: ModelPlan, base: dict[str, str]
) -> list[dict[str, Any]]:
    s = model.serving
    assert s is not None
    d = s.drift
    if d is None:
        return []
    labels = {"severity": "ticket", **base, "slo": "drift"}
    score = f"{DRIFT_SCORE}{{{_matchers({**base, 'method': d.method})}}}"
    last_run = f"{DRIFT_LAST_RUN}{{{_matchers(base)}}}"
    bound = STALE_PERIODS * cron_period_seconds(d.schedule)
    stale_summary = (
        f"The drift job of model {model.name} in {env.name} has not reported for {_duration(bound)}"
    )
    stale_description = (
        f"No successful drift run of model {model.name} in environment {env.name} has been"
        f" recorded for {STALE_PERIODS} periods of its schedule '{d.schedule}'"
        f" ({_duration(bound)}). Check the CronJob {model.name}-drift in namespace"
        f" {env.namespace} and the Pushgateway {d.pushgateway}."
    )
    return [
        {
            "alert": DATA_DRIFT,
            "expr": f"max by (feature) ({score}) > {_num(d.threshold)}",
            "for": DRIFT_FOR,
            "labels": dict(labels),
            "annotations": {
                "summary": (
                    f"Feature {{{{ $labels.feature }}}} of model {model.name} in {env.name}"
                    " has drifted from its training data"
                ),
                "description": (
                    f"The {d.method} drift score of feature {{{{ $labels.feature }}}} of"
                    f" model {model.name} in environment {env.name} has been above"
                    f" {_num(d.threshold)} for {DRIFT_FOR}. Compare recent inputs"
                    f" ({d.inputs}) with the reference data and consider retraining."
                ),
            },
        },
        {
            "alert": DRIFT_STALE,
            "expr": f"time() - max by (model, environment) ({last_run}) > {bound}",
            "labels": {**labels, "reason": "stale"},
            "annotations": {"summary": stale_summary, "description": stale_description},
        },
        {  # never reported (or the Pushgateway lost it): absent for the same bound
            "alert": DRIFT_STALE,
            "expr": f"absent({last_run})",
            "for": _duration(bound),
            "labels": {**labels, "reason": "missing"},
            "annotations": {"summary": stale_summary, "description": stale_description},
        },
    ]


# --- helpers ---------------------------------------------------------------------------------


def _matchers(labels: dict[str, str]) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in labels.items())


def _series(metric: str, *matchers: str) -> str:
    """metric{m1, m2, ...} from already-rendered matcher lists (empty ones dropped)."""
    inner = ", ".join(p.strip() for p in matchers if p.strip())
    return f"{metric}{{{inner}}}" if inner else metric


def _le_matcher(value: float) -> str:
    """The bucket boundary: exporters write 250, 250.0 (and Prometheus 3 normalises to
    250.0), so a whole number matches either spelling."""
    text = _num(value)
    if "." in text or "e" in text:
        return f'le="{text}"'
    return f'le=~"{text}(\\\\.0+)?"'


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def _objective(availability: float) -> float:
    return float(_decimal(availability) / 100)


def _budget(availability: float) -> float:
    """1 - availability / 100 without binary noise: 99.9 → 0.001, not 0.000999…"""
    return float((100 - _decimal(availability)) / 100)


def _num(value: float) -> str:
    """A number as PromQL and people write it: 150, 0.001, 14.4."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _percent(ratio: float) -> str:
    return f"{_num(float(_decimal(ratio) * 100))}%"


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- cron ------------------------------------------------------------------------------------

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}),
    (0, 7, {d: i for i, d in enumerate(_DAYS)}),
)
_HORIZON_DAYS = 8 * 366  # two leap cycles: every schedule repeats within it


def _cron_values(text: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            first, last = low, high
        else:
            bounds = [names[b.lower()] if b.lower() in names else int(b) for b in base.split("-")]
            first = bounds[0]
            last = bounds[-1] if len(bounds) == 2 else (high if step else first)
        values.update(range(first, last + 1, int(step) if step else 1))
    return values


@functools.cache
def cron_period_seconds(schedule: str) -> int:
    """The longest gap between two consecutive runs of a (validated) five-field schedule."""
    fields = cron_fields(schedule).split()
    minutes, hours, days, months, weekdays = (
        _cron_values(text, *spec) for text, spec in zip(fields, _FIELDS, strict=True)
    )
    weekdays = {d % 7 for d in weekdays}
    times = sorted(h * 60 + m for h in hours for m in minutes)
    day_any, weekday_any = fields[2].startswith("*"), fields[4].startswith("*")
    start = date(2024, 1, 1)
    run_days: list[int] = []
    for n in range(_HORIZON_DAYS):
        day = start + timedelta(days=n)
        by_day, by_weekday = day.day in days, (day.isoweekday() % 7) in weekdays
        # cron: when both day fields are restricted a day matches either; else both must
        either = not (day_any or weekday_any)
        matches = (by_day or by_weekday) if either else (by_day and by_weekday)
        if day.month in months and matches:
            run_days.append(n)
    if not times or len(run_days) < 2:
        return _HORIZON_DAYS * 86400
    gap = max((b - a for a, b in itertools.pairwise(times)), default=0)
    for a, b in itertools.pairwise(run_days):
        gap = max(gap, (b - a) * 1440 + times[0] - times[-1])
    return gap * 60
