"""The PrometheusRule of one served Model in one environment: SLO recording rules and alerts.

Groups, in order (the last two only when they have rules):

``<model>-slo-availability``, ``<model>-slo-latency``
    Each SLI's error ratios, 30-day ratio, objective, budget, burn rates, remaining budget
    and info series (compiler/targets/serving/slo_rules.py, at Sloth's level).
``<model>-slo-alerts``
    ``ModelAvailabilityBudgetBurn`` and ``ModelLatencyBudgetBurn``, each a page (14.4× over
    5m and 1h, or 6× over 30m and 6h) and a ticket (3× over 2h and 1d, or 1× over 6h and
    3d) on the SLI's 30-day error budget.
``<model>-rollout`` (canary rollouts with rollback thresholds only)
    ``ModelRolloutErrorRateHigh`` and ``ModelRolloutLatencyHigh``, per revision over 5m,
    labelled ``modelkiln_rollback: "true"``: the environment's AlertmanagerConfig
    (compiler/targets/serving/alertmanager.py) routes them to the rollback receiver.
``<model>-drift`` (models with drift monitoring only)
    ``ModelDataDrift`` (ticket) when a feature's ``modelkiln_drift_score`` stays above the
    threshold for 15m, and ``ModelDriftJobStale`` (ticket) when the drift job's last run
    (``modelkiln_drift_last_run_timestamp_seconds``) is older than three schedule periods,
    or when no run has been reported for that long. The period is the longest gap between
    two consecutive runs of the cron schedule (``0 * * * *`` → 1h, so 3h).

Every recorded series carries ``model``, ``environment`` and ``slo`` (availability |
latency | rollout | drift) labels; every alert also ``namespace`` (the environment's, so
that the AlertmanagerConfig's namespace matcher, which the operator adds, matches), a
``severity`` and a ``runbook_url`` annotation.
"""

from __future__ import annotations

from typing import Any

from compiler.plan import MANAGED_BY, EnvironmentPlan, ModelPlan
from compiler.serving_metrics import Series
from compiler.targets.serving import slo_rules
from compiler.targets.serving.cron import cron_period_seconds
from compiler.targets.serving.promql import decimal, duration, matchers, num, percent

BUDGET_BURN = slo_rules.AVAILABILITY_BURN
LATENCY_BURN = slo_rules.LATENCY_BURN
ROLLOUT_ERRORS = "ModelRolloutErrorRateHigh"
ROLLOUT_LATENCY = "ModelRolloutLatencyHigh"
DATA_DRIFT = "ModelDataDrift"
DRIFT_STALE = "ModelDriftJobStale"
ROLLBACK_LABEL = "modelkiln_rollback"
RUNBOOKS = "https://github.com/modelkiln/modelkiln/blob/main/docs/runbooks.md"

# The series the drift job pushes (labels model, environment, method, feature).
DRIFT_SCORE = "modelkiln_drift_score"
DRIFT_LAST_RUN = "modelkiln_drift_last_run_timestamp_seconds"
DRIFT_FOR = "15m"
STALE_PERIODS = 3

__all__ = [
    "cron_period_seconds",
    "drift_groups",
    "prometheus_rule",
    "rule_object",
    "runbook_url",
    "slo_groups",
]


def prometheus_rule(env: EnvironmentPlan, model: ModelPlan) -> dict[str, Any]:
    """The PrometheusRule (monitoring.coreos.com/v1) of a served model."""
    assert model.serving is not None
    base = {"model": model.name, "environment": env.name}
    alert_labels = {**base, "namespace": env.namespace}
    groups = slo_groups(env, model, slo_rules.slis(env, model))
    rollout = _rollout_alerts(env, model, alert_labels)
    if rollout:
        groups.append({"name": f"{model.name}-rollout", "rules": rollout})
    return rule_object(env, model, [*groups, *drift_groups(env, model)])


def slo_groups(
    env: EnvironmentPlan, model: ModelPlan, slis: tuple[slo_rules.Sli, ...]
) -> list[dict[str, Any]]:
    """A ``<model>-slo-<sli>`` group of recording rules per SLI, then ``<model>-slo-alerts``
    with each SLI's page and ticket."""
    base = {"model": model.name, "environment": env.name}
    alert_labels = {**base, "namespace": env.namespace}

    def runbook(alert: str) -> dict[str, str]:
        return {"runbook_url": runbook_url(env, alert)}

    groups: list[dict[str, Any]] = [
        {"name": f"{model.name}-slo-{sli.slo}", "rules": slo_rules.records(env, sli, base)}
        for sli in slis
    ]
    slo_alerts = [
        rule for sli in slis for rule in slo_rules.alerts(env, model, sli, alert_labels, runbook)
    ]
    groups.append({"name": f"{model.name}-slo-alerts", "rules": slo_alerts})
    return groups


def drift_groups(env: EnvironmentPlan, model: ModelPlan) -> list[dict[str, Any]]:
    """The ``<model>-drift`` group, or none without drift monitoring."""
    alert_labels = {"model": model.name, "environment": env.name, "namespace": env.namespace}
    drift = _drift_alerts(env, model, alert_labels)
    return [{"name": f"{model.name}-drift", "rules": drift}] if drift else []


def rule_object(
    env: EnvironmentPlan, model: ModelPlan, groups: list[dict[str, Any]]
) -> dict[str, Any]:
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


def runbook_url(env: EnvironmentPlan, alert: str) -> str:
    """<runbookBaseUrl>/<alert in lower case>, as kubernetes-mixin links its runbooks;
    without a base URL, the alert's section of modelkiln's own docs/runbooks.md."""
    base = env.alerting.runbook_base_url
    return f"{base}/{alert.lower()}" if base else f"{RUNBOOKS}#{alert.lower()}"


# --- rollout ---------------------------------------------------------------------------------


def _per_revision(series: Series, by: str = "revision_name") -> str:
    rate = f"rate({series()}[5m])"
    return f"sum by ({by}) ({series.per_revision(rate)})"


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
        f"Roll back in git: modelkiln rollback {model.name} --env {env.name} --commit (or revert"
        " the commit that changed its version); the GitOps sync restores the stable version."
    )
    revision = "{{ $labels.revision_name }}"
    rules: list[dict[str, Any]] = []
    if s.max_error_rate is not None:
        ratio = f"{_per_revision(m.errors)} / ({_per_revision(m.requests)} > 0)"
        rules.append(
            {
                "alert": ROLLOUT_ERRORS,
                "expr": f"{ratio} > {num(s.max_error_rate)}",
                "for": "2m",
                "labels": dict(labels),
                "annotations": {
                    "summary": f"Revision {revision} of model {model.name} in {env.name}"
                    f" fails more than {percent(s.max_error_rate)} of requests",
                    "description": f"The 5-minute error ratio of revision {revision} of model"
                    f" {model.name} in environment {env.name} is above the rollback"
                    f" threshold {percent(s.max_error_rate)}. {how}",
                    "runbook_url": runbook_url(env, ROLLOUT_ERRORS),
                },
            }
        )
    if s.max_latency_p99_ms is not None:
        limit = num(decimal(s.max_latency_p99_ms) / 1000)
        buckets = _per_revision(m.latency_bucket, by="revision_name, le")
        # per revision: NaN > x is false, so a revision without traffic never alerts
        rules.append(
            {
                "alert": ROLLOUT_LATENCY,
                "expr": f"histogram_quantile(0.99, {buckets}) > {limit}",
                "for": "2m",
                "labels": dict(labels),
                "annotations": {
                    "summary": f"Revision {revision} of model {model.name} in {env.name}"
                    f" has p99 latency above {num(s.max_latency_p99_ms)} ms",
                    "description": f"The 5-minute p99 latency of revision {revision} of model"
                    f" {model.name} in environment {env.name} is above the rollback"
                    f" threshold of {limit} s. {how}",
                    "runbook_url": runbook_url(env, ROLLOUT_LATENCY),
                },
            }
        )
    return rules


# --- drift -----------------------------------------------------------------------------------


def _drift_alerts(
    env: EnvironmentPlan, model: ModelPlan, base: dict[str, str]
) -> list[dict[str, Any]]:
    s = model.serving
    assert s is not None
    d = s.drift
    if d is None:
        return []
    labels = {"severity": "ticket", **base, "slo": "drift"}
    pushed = {"model": model.name, "environment": env.name}
    score = f"{DRIFT_SCORE}{{{matchers({**pushed, 'method': d.method})}}}"
    last_run = f"{DRIFT_LAST_RUN}{{{matchers(pushed)}}}"
    bound = STALE_PERIODS * cron_period_seconds(d.schedule)
    stale = {
        "summary": f"The drift job of model {model.name} in {env.name} has not reported"
        f" for {duration(bound)}",
        "description": f"No successful drift run of model {model.name} in environment"
        f" {env.name} has been recorded for {STALE_PERIODS} periods of its schedule"
        f" '{d.schedule}' ({duration(bound)}). Check the CronJob {model.name}-drift in"
        f" namespace {env.namespace} and the Pushgateway {d.pushgateway}.",
        "runbook_url": runbook_url(env, DRIFT_STALE),
    }
    return [
        {
            "alert": DATA_DRIFT,
            "expr": f"max by (feature) ({score}) > {num(d.threshold)}",
            "for": DRIFT_FOR,
            "labels": dict(labels),
            "annotations": {
                "summary": "Feature {{ $labels.feature }} of model"
                f" {model.name} in {env.name} has drifted from its training data",
                "description": f"The {d.method} drift score of feature"
                f" {{{{ $labels.feature }}}} of model {model.name} in environment {env.name}"
                f" has been above {num(d.threshold)} for {DRIFT_FOR}. Compare recent inputs"
                f" ({d.inputs}) with the reference data and consider retraining.",
                "runbook_url": runbook_url(env, DATA_DRIFT),
            },
        },
        {
            "alert": DRIFT_STALE,
            "expr": f"time() - max by (model, environment) ({last_run}) > {bound}",
            "labels": {**labels, "reason": "stale"},
            "annotations": dict(stale),
        },
        {  # never reported (or the Pushgateway lost it): absent for the same bound
            "alert": DRIFT_STALE,
            "expr": f"absent({last_run})",
            "for": duration(bound),
            "labels": {**labels, "reason": "missing"},
            "annotations": dict(stale),
        },
    ]
