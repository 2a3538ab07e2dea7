"""The AlertmanagerConfig (monitoring.coreos.com/v1alpha1) of one environment: routes the
rollback alerts (`modelkiln_rollback="true"`) to the Project's rollback receiver, a
webhook whose URL is read from a Secret, so no URL or token is ever written to git.

What prometheus-operator v0.93.0 does with it (pkg/alertmanager/amcfg.go and
pkg/alertmanager/validation/v1alpha1/validation.go), and so what this module keeps to:

* it appends the matcher ``namespace="<this object's namespace>"`` to the route itself
  (``namespaceEnforcer``, the default ``OnNamespace`` strategy): the route must not add
  one, and the alerts must carry that ``namespace`` label, which every modelkiln alert
  does (compiler/targets/serving/alerts.py);
* it skips a config whose top-level route names no receiver, names an undefined receiver,
  or has a webhook with neither ``url`` nor ``urlSecret``; the strict CRD schema accepts
  all three, so tests/test_alertmanager.py checks them;
* it reads ``urlSecret`` from this object's namespace, the environment's.
"""

from __future__ import annotations

from typing import Any

from compiler.plan import MANAGED_BY, EnvironmentPlan
from compiler.targets.serving.alerts import ROLLBACK_LABEL

FILE = "alertmanagerconfig.yaml"
GROUP_BY = ["alertname", "model", "environment", "revision_name"]


def has_rollback_alerts(env: EnvironmentPlan) -> bool:
    """Whether any model of the environment renders rollback alerts (the same condition as
    alerts._rollout_alerts: a canary rollout with a rollback threshold)."""
    return any(
        m.serving is not None
        and m.serving.strategy == "canary"
        and (m.serving.max_error_rate is not None or m.serving.max_latency_p99_ms is not None)
        for m in env.models
    )


def alertmanager_config(env: EnvironmentPlan) -> dict[str, Any] | None:
    """The environment's AlertmanagerConfig, or None without a rollback receiver or
    without rollback alerts to route."""
    r = env.alerting.rollback_receiver
    if r is None or not has_rollback_alerts(env):
        return None
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "modelkiln.dev/environment": env.name,
        **dict(r.labels),  # the Alertmanager's alertmanagerConfigSelector
    }
    webhook: dict[str, Any] = {
        "urlSecret": {"name": r.secret_name, "key": r.secret_key},
        "sendResolved": r.send_resolved,
    }
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": {
            # per environment: two environments may share a cluster and a namespace
            "name": f"{r.name}-{env.name}",
            "namespace": env.namespace,
            "labels": labels,
        },
        "spec": {
            "route": {
                "receiver": r.name,
                "groupBy": list(GROUP_BY),
                "groupWait": "30s",
                "groupInterval": "5m",
                "repeatInterval": "4h",
                "matchers": [
                    {"name": ROLLBACK_LABEL, "value": "true", "matchType": "="},
                    {"name": "environment", "value": env.name, "matchType": "="},
                ],
            },
            "receivers": [{"name": r.name, "webhookConfigs": [webhook]}],
        },
    }
