"""A language model's token SLOs: the metric defaults of vLLM 0.24.0 (the release KServe
v0.20.0 pins), which series each api's pods write, what counts as a failed request, the
PrometheusRule against the strict CRD schema, `promtool check rules` and Sloth's structure,
and ttftP95Ms / tpotP95Ms against vLLM's buckets (MK390, MK406, MK392). The alerts'
behaviour on vLLM-shaped series: tests/test_llm_slo_promtool.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from compiler.llm.metrics import TPOT_BUCKETS, TTFT_BUCKETS, llm_metrics
from compiler.load import load
from compiler.plan import EnvironmentPlan, ModelPlan
from compiler.spec.llm import LlmMetricNames
from compiler.spec.project import Environment
from compiler.targets.serving import render_model
from compiler.targets.serving.alerts import BUDGET_BURN
from compiler.targets.serving.llm_slo import TPOT_BURN, TTFT_BURN, llm_prometheus_rule
from compiler.targets.serving.slo_rules import WINDOWS
from compiler.validate import validate
from tests.alert_helpers import alerts_named, promtool_check, strict_schema_errors
from tests.conftest import copy_example
from tests.kfp_helpers import plan_of


def served() -> list[tuple[str, EnvironmentPlan, ModelPlan]]:
    return [
        (f"llm/{env.name}/{model.name}", env, model)
        for env in plan_of("llm").environments
        for model in env.models
        if model.serving is not None and model.serving.llm is not None
    ]


SERVED = served()
IDS = [case[0] for case in SERVED]


def environment(**serving: Any) -> Environment:
    return Environment.model_validate(
        {
            "name": "prod",
            "namespace": "llm-prod",
            "cloud": {"provider": "gcp", "project": "acme", "region": "us-central1"},
            "cluster": "gke",
            "serving": serving,
        }
    )


# --- defaults and series ----------------------------------------------------------------------


def test_defaults_are_vllm_0_24_0s() -> None:
    """vllm v0.24.0 vllm/v1/metrics/loggers.py (KServe v0.20.0 python/kserve/pyproject.toml:
    vllm==0.24.0): the names, and the buckets of histogram_time_to_first_token and
    histogram_request_time_per_output_token."""
    names = LlmMetricNames()
    assert (names.ttft, names.tpot, names.requests, names.waiting, names.kv_cache) == (
        "vllm:time_to_first_token_seconds",
        "vllm:request_time_per_output_token_seconds",
        "vllm:request_success_total",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
    )
    assert TTFT_BUCKETS == (
        0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
        7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
    )  # fmt: skip
    assert TPOT_BUCKETS == (
        0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
        10.0, 20.0, 40.0, 80.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("serving", "pod", "errors"),
    [
        (  # KServe v0.20.0 Standard mode: Deployment <isvc>-predictor; Istio's gateway
            {},
            'pod=~"chat-predictor-[a-z0-9]+-[a-z0-9]+"',
            'istio_requests_total{reporter="source", destination_service_namespace="llm-prod",'
            ' destination_service_name="chat-predictor", response_code=~"5.."}',
        ),
        (  # Knative: revision <isvc>-predictor-0000n; the queue-proxy's status codes
            {"mode": "knative"},
            'pod=~"chat-predictor-[0-9]+-deployment-.+"',
            'kn_serving_invocation_duration_seconds_count{http_response_status_code=~"5..",'
            ' namespace="llm-prod", pod=~"chat-predictor-[0-9]+-deployment-.+"}',
        ),
        (  # LLMInferenceService: main workload <name>-kserve; vLLM's own failures
            {"llm": {"api": "llminferenceservice"}},
            'pod=~"chat-kserve-[a-z0-9]+-[a-z0-9]+"',
            'vllm:request_success_total{namespace="llm-prod",'
            ' pod=~"chat-kserve-[a-z0-9]+-[a-z0-9]+", finished_reason="error"}',
        ),
    ],
    ids=["isvc-standard", "isvc-knative", "llmisvc"],
)
def test_each_apis_series(serving: dict[str, Any], pod: str, errors: str) -> None:
    m = llm_metrics(environment(**serving), "chat")
    assert m.selector == f'namespace="llm-prod", {pod}'
    assert m.errors is not None
    assert m.errors() == errors
    assert m.separate_errors == (not errors.startswith("vllm:"))


def test_an_llminferenceservice_prefill_pod_is_not_selected() -> None:
    """P/D disaggregation: <name>-kserve-prefill-<hash>-<suffix> also runs vLLM; its
    requests are the decode pods' again (kserve aaac4e294dae workload_single_node.go)."""
    import re

    m = llm_metrics(environment(llm={"api": "llminferenceservice"}), "chat")
    pattern = m.selector.split('pod=~"')[1].rstrip('"')
    assert re.fullmatch(pattern, "chat-kserve-5c8d7f9b4-q7w2n")
    assert not re.fullmatch(pattern, "chat-kserve-prefill-5c8d7f9b4-q7w2n")


def test_the_environment_configures_names_selector_errors_and_buckets() -> None:
    env = environment(
        llm={
            "metrics": {
                "ttft": "ttft_seconds",
                "requests": "finished_total",
                "selector": 'namespace="{namespace}", model_name="{model}"',
                "errors": {"selector": 'reason="error"'},
                "ttftBuckets": [0.5, 1.5],
                "tpotBuckets": [0.02, 0.04],
            }
        }
    )
    m = llm_metrics(env, "chat")
    assert (m.ttft, m.selector) == ("ttft_seconds", 'namespace="llm-prod", model_name="chat"')
    assert m.errors is not None and not m.separate_errors
    assert m.errors() == 'finished_total{namespace="llm-prod", model_name="chat", reason="error"}'
    assert (m.ttft_buckets, m.tpot_buckets) == ((0.5, 1.5), (0.02, 0.04))


# --- the rule -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "env", "model"), SERVED, ids=IDS)
def test_rule_matches_the_strict_crd_schema(
    case: str, env: EnvironmentPlan, model: ModelPlan
) -> None:
    errors = strict_schema_errors(llm_prometheus_rule(env, model))
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(("case", "env", "model"), SERVED, ids=IDS)
def test_promtool_check_rules_is_clean(
    case: str, env: EnvironmentPlan, model: ModelPlan, promtool: str, tmp_path: Path
) -> None:
    assert "FAILED" not in promtool_check(llm_prometheus_rule(env, model), promtool, tmp_path)


@pytest.mark.parametrize(("case", "env", "model"), SERVED, ids=IDS)
def test_three_slis_with_sloths_series_page_and_ticket(
    case: str, env: EnvironmentPlan, model: ModelPlan
) -> None:
    rule = llm_prometheus_rule(env, model)
    groups = rule["spec"]["groups"]
    assert [g["name"] for g in groups] == [
        f"{model.name}-slo-{s}" for s in ("availability", "ttft", "tpot", "alerts")
    ]
    for group, slo in zip(groups[:3], ("availability", "ttft", "tpot"), strict=True):
        records = [r["record"] for r in group["rules"]]
        assert records[: len(WINDOWS)] == [f"slo:sli_error:ratio_rate{w}" for w in WINDOWS]
        assert {r["labels"]["slo"] for r in group["rules"]} == {slo}
    budgets = {
        r["labels"]["slo"]: r["expr"]
        for g in groups[:3]
        for r in g["rules"]
        if r["record"] == "slo:error_budget:ratio"
    }
    assert budgets["ttft"] == budgets["tpot"] == "vector(0.05)"  # p95: 5 % of requests
    for name in (BUDGET_BURN, TTFT_BURN, TPOT_BURN):
        alerts = alerts_named(rule, name)
        assert [a["labels"]["severity"] for a in alerts] == ["page", "ticket"]
        for a in alerts:
            assert a["labels"]["namespace"] == env.namespace
            assert a["annotations"]["runbook_url"].endswith(f"#{name.lower()}")


def _with_objectives(model: ModelPlan, ttft: float, tpot: float) -> ModelPlan:
    assert model.serving is not None and model.serving.llm is not None
    llm = replace(model.serving.llm, ttft_p95_ms=ttft, tpot_p95_ms=tpot)
    return replace(model, serving=replace(model.serving, llm=llm))


def test_the_sli_reads_the_objectives_bucket_or_the_one_below() -> None:
    """ttftP95Ms 1500 is between 1 and 2.5 s and is measured at 1 s (stricter, as MK390
    says), read as le 1 or 1.0; tpotP95Ms 40 is measured at 25 ms; the example's own
    objectives (1000 ms, 50 ms) are boundaries and read as themselves."""
    env = next(e for e in plan_of("llm").environments if e.name == "prod")
    big, small = (next(m for m in env.models if m.name == n) for n in ("chat-70b", "chat-8b"))
    ttft = llm_prometheus_rule(env, big)["spec"]["groups"][1]["rules"][0]["expr"]
    assert 'le=~"1(\\\\.0+)?"' in ttft
    tpot = llm_prometheus_rule(env, small)["spec"]["groups"][2]["rules"][0]["expr"]
    assert 'le="0.05"' in tpot
    ttft = llm_prometheus_rule(env, _with_objectives(big, 1500, 50))["spec"]["groups"][1]
    assert 'le=~"1(\\\\.0+)?"' in ttft["rules"][0]["expr"]
    off = _with_objectives(small, 750, 40)
    tpot = llm_prometheus_rule(env, off)["spec"]["groups"][2]["rules"][0]["expr"]
    assert 'le="0.025"' in tpot and "request_time_per_output_token_seconds_bucket" in tpot


def test_render_model_writes_the_rule_for_a_language_model() -> None:
    env = next(e for e in plan_of("llm").environments if e.name == "staging")
    model = next(m for m in env.models if m.name == "chat-70b")
    files = render_model(env, model)
    base = "staging/models/chat-70b/serving/"
    assert base + "prometheusrule.yaml" in files
    assert b"prometheusrule.yaml" in files[base + "kustomization.yaml"]
    assert b"LlmTimeToFirstTokenBudgetBurn" in files[base + "prometheusrule.yaml"]


def test_the_objectives_come_from_the_plan() -> None:
    """A laxer TTFT objective in the plan moves the bucket the SLI reads."""
    env = next(e for e in plan_of("llm").environments if e.name == "prod")
    model = next(m for m in env.models if m.name == "chat-70b")
    assert model.serving is not None and model.serving.llm is not None
    lax = replace(model.serving.llm, ttft_p95_ms=2500.0)
    rule = llm_prometheus_rule(env, replace(model, serving=replace(model.serving, llm=lax)))
    assert 'le="2.5"' in rule["spec"]["groups"][1]["rules"][0]["expr"]


# --- validation ---------------------------------------------------------------------------------


def _set(root: Path, file: str, old: str, new: str) -> None:
    path = root / file
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")


def _off_the_buckets(root: Path) -> None:
    """chat-8b's 800 ms and 40 ms and chat-70b's 1500 ms miss vLLM's buckets."""
    _set(root, "models/chat-70b.yaml", "ttftP95Ms: 1000", "ttftP95Ms: 1500")
    _set(
        root,
        "models/chat-8b.yaml",
        "ttftP95Ms: 750, tpotP95Ms: 50",
        "ttftP95Ms: 800, tpotP95Ms: 40",
    )


def test_objectives_between_buckets_warn(tmp_path: Path) -> None:
    """The example's objectives are on vLLM's buckets; moved off them, each warns (validation
    still passes); 1000 ms is a boundary again."""
    root = copy_example(tmp_path, "llm")
    assert validate(load(root)).diagnostics == []
    _off_the_buckets(root)
    result = validate(load(root))
    assert result.ok
    found = sorted(
        (d.file, d.line, d.code, d.severity, d.message.split(" is ")[0]) for d in result.diagnostics
    )
    assert found == [
        ("models/chat-70b.yaml", 19, "MK390", "warning", "ttftP95Ms 1500"),
        ("models/chat-8b.yaml", 18, "MK390", "warning", "tpotP95Ms 40"),
        ("models/chat-8b.yaml", 18, "MK390", "warning", "ttftP95Ms 800"),
    ]
    ttft = next(d for d in result.diagnostics if "ttftP95Ms 1500" in d.message)
    assert "environments 'staging', 'prod'" in ttft.message
    assert "nearest: 1 s and 2.5 s" in ttft.message
    assert "measured at 1000 ms" in ttft.message
    assert ttft.hint is not None and ttft.hint.startswith("use 1000 or 2500")
    _set(root, "models/chat-70b.yaml", "ttftP95Ms: 1500", "ttftP95Ms: 1000")
    assert len(validate(load(root)).diagnostics) == 2


def test_the_policy_makes_them_errors(tmp_path: Path) -> None:
    root = copy_example(tmp_path, "llm")
    _set(root, "modelkiln.yaml", "  policies:\n", "  policies:\n    strictLatencyBuckets: true\n")
    assert validate(load(root)).diagnostics == []
    _off_the_buckets(root)
    result = validate(load(root))
    assert [(d.code, d.severity) for d in result.diagnostics] == [("MK406", "error")] * 3


def test_environment_buckets_decide(tmp_path: Path) -> None:
    """prod declares histograms with buckets at 40 ms, 800 ms and 1.5 s: only staging
    reports the objectives."""
    root = copy_example(tmp_path, "llm")
    _off_the_buckets(root)
    _set(
        root,
        "modelkiln.yaml",
        "llm: {api: llminferenceservice}",
        "llm: {api: llminferenceservice, metrics: {tpotBuckets: [0.02, 0.04, 0.05, 0.1],"
        " ttftBuckets: [0.5, 0.8, 1, 1.5, 2.5]}}",
    )
    diagnostics = validate(load(root)).diagnostics
    assert len(diagnostics) == 3
    assert all(d.code == "MK390" and "environment 'staging'" in d.message for d in diagnostics)


def test_buckets_out_of_order_are_refused(tmp_path: Path) -> None:
    root = copy_example(tmp_path, "llm")
    _set(
        root,
        "modelkiln.yaml",
        "llm: {api: llminferenceservice}",
        "llm: {api: llminferenceservice, metrics: {ttftBuckets: [0.5, 0.25]}}",
    )
    result = validate(load(root))
    assert not result.ok
    assert [d.code for d in result.diagnostics] == ["MK392"]
