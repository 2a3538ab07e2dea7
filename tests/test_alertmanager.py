"""The AlertmanagerConfig that routes rollback alerts: the strict v1alpha1 schema, the
checks prometheus-operator v0.93.0 makes that the schema does not (a config failing them
is skipped by the operator, silently for whoever waits for the alert), and a simulation of
the route the operator builds, namespace matcher included, against the rendered alerts."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from typing import Any

import jsonschema
import pytest

from compiler.plan import AlertingPlan, EnvironmentPlan, RollbackReceiverPlan
from compiler.targets.environment import render
from compiler.targets.serving.alertmanager import alertmanager_config
from compiler.targets.serving.alerts import ROLLBACK_LABEL, prometheus_rule
from tests.alert_helpers import env_of
from tests.conftest import UPSTREAM
from tests.kfp_helpers import files_of, plan_of, yaml_docs

SCHEMA = UPSTREAM / "prometheus-operator" / "alertmanagerconfig.v1alpha1.strict.schema.json"
WITH_ROLLBACK = ("prod-us", "prod-eu")  # canary models with rollback thresholds


def operator_problems(amc: dict[str, Any]) -> list[str]:
    """prometheus-operator v0.93.0 pkg/alertmanager/validation/v1alpha1/validation.go
    ValidateAlertmanagerConfig, for what modelkiln renders (webhook receivers, matchers)."""
    spec = amc["spec"]
    problems = []
    names = [r["name"] for r in spec.get("receivers", [])]
    if len(names) != len(set(names)):
        problems.append("receiver names are not unique")
    for receiver in spec.get("receivers", []):
        for webhook in receiver.get("webhookConfigs", []):
            if "url" not in webhook and "urlSecret" not in webhook:
                problems.append("one of 'url' or 'urlSecret' must be specified")
    route = spec.get("route")
    if route is not None:
        if not route.get("receiver"):
            problems.append("root route must define a receiver")
        problems += _route_problems(route, set(names))
    return problems


def _route_problems(route: dict[str, Any], receivers: set[str]) -> list[str]:
    problems = []
    if route.get("receiver") and route["receiver"] not in receivers:
        problems.append(f"receiver '{route['receiver']}' not found")
    group_by = route.get("groupBy", [])
    if len(group_by) != len(set(group_by)):
        problems.append("duplicate groupBy")
    for m in route.get("matchers", []):
        if not m.get("name") or m.get("matchType", "=") not in ("=", "!=", "=~", "!~"):
            problems.append(f"invalid matcher {m}")
    for child in route.get("routes", []):
        problems += _route_problems(child, receivers)
    return problems


def matches(matchers: list[dict[str, str]], labels: dict[str, str]) -> bool:
    """Alertmanager's matching: a missing label is the empty string; regexes are anchored."""
    for m in matchers:
        value, want, op = labels.get(m["name"], ""), m.get("value", ""), m.get("matchType", "=")
        ok = {
            "=": value == want,
            "!=": value != want,
            "=~": re.fullmatch(want, value) is not None,
            "!~": re.fullmatch(want, value) is None,
        }[op]
        if not ok:
            return False
    return True


def operator_route(amc: dict[str, Any]) -> list[dict[str, str]]:
    """The route's matchers after the operator's namespaceEnforcer (amcfg.go:189) appended
    namespace="<the object's namespace>"."""
    namespace = {"name": "namespace", "value": amc["metadata"]["namespace"], "matchType": "="}
    return [*amc["spec"]["route"]["matchers"], namespace]


def rendered(env_name: str) -> dict[str, Any]:
    amc = alertmanager_config(env_of(env_name))
    assert amc is not None
    return amc


# --- what is rendered where ---------------------------------------------------------------


@pytest.mark.parametrize("env_name", WITH_ROLLBACK)
def test_matches_the_strict_crd_schema(env_name: str) -> None:
    schema = json.loads(SCHEMA.read_text("utf-8"))
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(rendered(env_name)))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


@pytest.mark.parametrize("env_name", WITH_ROLLBACK)
def test_passes_the_operators_own_checks(env_name: str) -> None:
    amc = rendered(env_name)
    assert operator_problems(amc) == []
    assert amc["spec"]["route"]["receiver"] == "rollback-bot"
    assert amc["metadata"]["labels"]["alertmanagerConfig"] == "ml-platform"
    # no namespace matcher of its own: the operator appends it
    assert all(m["name"] != "namespace" for m in amc["spec"]["route"]["matchers"])


def test_the_operator_checks_catch_what_the_schema_lets_through() -> None:
    """The three mistakes the strict schema accepts and the operator rejects."""
    schema = json.loads(SCHEMA.read_text("utf-8"))
    good = rendered("prod-us")
    no_root_receiver = copy.deepcopy(good)
    del no_root_receiver["spec"]["route"]["receiver"]
    undefined = copy.deepcopy(good)
    undefined["spec"]["route"]["receiver"] = "nobody"
    no_url = copy.deepcopy(good)
    del no_url["spec"]["receivers"][0]["webhookConfigs"][0]["urlSecret"]
    for broken, problem in (
        (no_root_receiver, "root route must define a receiver"),
        (undefined, "receiver 'nobody' not found"),
        (no_url, "one of 'url' or 'urlSecret' must be specified"),
    ):
        assert not list(jsonschema.Draft7Validator(schema).iter_errors(broken))
        assert operator_problems(broken) == [problem]


def test_no_secret_value_in_the_output() -> None:
    (webhook,) = rendered("prod-us")["spec"]["receivers"][0]["webhookConfigs"]
    assert "url" not in webhook
    assert webhook["urlSecret"] == {"name": "rollback-bot-webhook", "key": "url"}


def test_rendered_only_where_there_is_something_to_route() -> None:
    files = files_of("multi-cloud")
    for env in plan_of("multi-cloud").environments:
        path = f"{env.name}/alertmanagerconfig.yaml"
        kustomization = yaml_docs(files[f"{env.name}/kustomization.yaml"])[0]
        present = env.name in WITH_ROLLBACK
        assert (path in files) is present, env.name
        assert ("alertmanagerconfig.yaml" in kustomization["resources"]) is present
    # staging serves the recommender with a direct rollout: nothing to route
    assert not any(p.endswith("alertmanagerconfig.yaml") for p in files_of("quickstart"))


def test_without_a_receiver_there_is_no_config() -> None:
    env = replace(env_of("prod-us"), alerting=AlertingPlan())
    assert alertmanager_config(env) is None
    assert "prod-us/alertmanagerconfig.yaml" not in render(env, plan_of("multi-cloud"))


def test_two_environments_in_one_namespace_do_not_collide() -> None:
    us, eu = rendered("prod-us"), rendered("prod-eu")
    assert us["metadata"]["namespace"] == eu["metadata"]["namespace"] == "ml-prod"
    assert us["metadata"]["name"] != eu["metadata"]["name"]


# --- the route reaches the rollback alerts, and only them ------------------------------------


def _fired_labels(env: EnvironmentPlan) -> list[tuple[str, dict[str, str]]]:
    """Every alert of the environment with the labels it fires with (a revision filled in)."""
    out = []
    for model in env.models:
        if model.serving is None:
            continue
        for group in prometheus_rule(env, model)["spec"]["groups"]:
            for r in group["rules"]:
                if "alert" in r:
                    labels = {"alertname": r["alert"], **r["labels"]}
                    out.append((r["alert"], {**labels, "revision_name": f"{model.name}-00002"}))
    return out


@pytest.mark.parametrize("env_name", WITH_ROLLBACK)
def test_the_route_takes_rollback_alerts_and_nothing_else(env_name: str) -> None:
    env = env_of(env_name)
    route = operator_route(rendered(env_name))
    fired = _fired_labels(env)
    taken = {name for name, labels in fired if matches(route, labels)}
    assert taken == {"ModelRolloutErrorRateHigh", "ModelRolloutLatencyHigh"}
    for _, labels in fired:
        assert matches(route, labels) is (labels.get(ROLLBACK_LABEL) == "true")
    # an alert without the namespace label (a rule that dropped it) would not be taken
    name, labels = next((n, lab) for n, lab in fired if lab.get(ROLLBACK_LABEL) == "true")
    assert not matches(route, {k: v for k, v in labels.items() if k != "namespace"}), name


def test_another_environments_rollback_alerts_are_not_taken() -> None:
    """prod-us and prod-eu share the namespace ml-prod: each route keeps to its own."""
    us_route = operator_route(rendered("prod-us"))
    eu_alerts = [lab for _, lab in _fired_labels(env_of("prod-eu")) if ROLLBACK_LABEL in lab]
    assert eu_alerts
    assert not any(matches(us_route, labels) for labels in eu_alerts)


def test_receiver_settings_reach_the_config() -> None:
    receiver = RollbackReceiverPlan("oncall", "hook", "address", False, (("team", "ml"),))
    env = replace(env_of("prod-us"), alerting=AlertingPlan(None, receiver))
    amc = alertmanager_config(env)
    assert amc is not None
    assert amc["metadata"]["name"] == "oncall-prod-us"
    assert amc["metadata"]["labels"]["team"] == "ml"
    assert amc["spec"]["receivers"] == [
        {
            "name": "oncall",
            "webhookConfigs": [
                {"urlSecret": {"name": "hook", "key": "address"}, "sendResolved": False}
            ],
        }
    ]
    assert operator_problems(amc) == []
