"""promtool unit tests of a language model's token SLO alerts (compiler/targets/serving/
llm_slo.py), firing and silent, on series shaped as vLLM 0.24.0 exposes them
(vllm/v1/metrics/loggers.py: labels model_name and engine, prometheus_client's `le`
spelling 1.0 / 2.5, request_success_total by finished_reason) and as the scrape labels them
(namespace, pod). The examples/llm plan: chat-70b (ttftP95Ms 1000, the 1 s bucket,
tpotP95Ms 50) in staging
(an InferenceService on the Hugging Face server, failures from the Istio gateway) and prod
(an LLMInferenceService, failures from vLLM's finished_reason="error")."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.llm.metrics import TPOT_BUCKETS, TTFT_BUCKETS
from compiler.plan import EnvironmentPlan, ModelPlan
from compiler.serving_metrics import le_text
from compiler.targets import yamlout
from compiler.targets.serving.alerts import BUDGET_BURN
from compiler.targets.serving.llm_slo import TPOT_BURN, TTFT_BURN, llm_prometheus_rule
from tests.alert_helpers import alerts_named, expected, model_in
from tests.kfp_helpers import plan_of

MINUTES = 300  # five hours of one-minute samples
MODEL = "chat-70b"
TTFT = "vllm:time_to_first_token_seconds"
TPOT = "vllm:request_time_per_output_token_seconds"
POD = {  # the pods KServe runs for each api (compiler/llm/metrics.py)
    "staging": f"{MODEL}-predictor-7d9f8b6c5-x2k4p",
    "prod": f"{MODEL}-kserve-5c8d7f9b4-q7w2n",
}
SERVED_NAME = {"staging": "/mnt/models", "prod": MODEL}  # vLLM's model_name label


def env_and_model(env_name: str) -> tuple[EnvironmentPlan, ModelPlan]:
    env = next(e for e in plan_of("llm").environments if e.name == env_name)
    return env, model_in(env, MODEL)


def _series(metric: str, labels: dict[str, str], per_minute: float) -> dict[str, str]:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{inner}}}", "values": f"0+{per_minute:g}x{MINUTES}"}


def _vllm_labels(env: EnvironmentPlan, engine: str) -> dict[str, str]:
    return {
        "namespace": env.namespace,
        "pod": POD[env.name],
        "container": "kserve-container" if env.name == "staging" else "main",
        "model_name": SERVED_NAME[env.name],
        "engine": engine,
    }


def _le(bound: float) -> str:
    """prometheus_client writes floats with repr: 1.0, 2.5, 0.001."""
    text = le_text(bound)
    return text if "." in text else text + ".0"


def histogram(
    env: EnvironmentPlan,
    metric: str,
    bounds: tuple[float, ...],
    observations: dict[float, int],
    engine: str = "0",
) -> list[dict[str, str]]:
    """A vLLM histogram's cumulative buckets and count: `observations` maps seconds to
    requests per minute."""
    labels = _vllm_labels(env, engine)
    out = []
    for bound in (*bounds, float("inf")):
        le = "+Inf" if bound == float("inf") else _le(bound)
        within = sum(n for seconds, n in observations.items() if seconds <= bound)
        out.append(_series(f"{metric}_bucket", {**labels, "le": le}, within))
    out.append(_series(f"{metric}_count", labels, sum(observations.values())))
    return out


def finished(env: EnvironmentPlan, **reasons: int) -> list[dict[str, str]]:
    """vllm:request_success_total per finished_reason (requests per minute); vLLM creates
    a series for every reason at start, so the ones not given stay at 0."""
    labels = _vllm_labels(env, "0")
    return [
        _series("vllm:request_success_total", {**labels, "finished_reason": r}, reasons.get(r, 0))
        for r in ("stop", "length", "abort", "error", "repetition")
    ]


def gateway(env: EnvironmentPlan, ok: int, failed: int) -> list[dict[str, str]]:
    """The Istio ingress gateway's istio_requests_total for the predictor Service."""
    labels = {
        "reporter": "source",
        "source_workload": "istio-ingressgateway",
        "destination_service_namespace": env.namespace,
        "destination_service_name": f"{MODEL}-predictor",
        "destination_workload": f"{MODEL}-predictor",
    }
    return [
        _series("istio_requests_total", {**labels, "response_code": "200"}, ok),
        _series("istio_requests_total", {**labels, "response_code": "503"}, failed),
    ]


def traffic(
    env: EnvironmentPlan,
    ttft: dict[float, int] | None = None,
    tpot: dict[float, int] | None = None,
    ok: int = 100,
    errors: int = 0,
    aborts: int = 0,
) -> list[dict[str, str]]:
    """`ok` + `aborts` + `errors` requests a minute; every finished request has a TTFT and
    a TPOT observation (vLLM observes both for each request that produced a token)."""
    served = ok + aborts
    ttft = ttft or {0.3: served}
    tpot = tpot or {0.03: served}
    series = histogram(env, TTFT, TTFT_BUCKETS, ttft) + histogram(env, TPOT, TPOT_BUCKETS, tpot)
    series += finished(env, stop=ok, abort=aborts, error=errors)
    if env.name == "staging":  # the Hugging Face server behind the Istio gateway
        series += gateway(env, served, errors)
    return series


def run_promtool(
    promtool: str, rule: dict[str, Any], tests: list[dict[str, Any]], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "rules.yaml").write_bytes(yamlout.dump(rule["spec"]))
    for case in tests:
        case.setdefault("interval", "1m")
    document = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(document, sort_keys=False), "utf-8")
    return subprocess.run(
        [promtool, "test", "rules", "test.yaml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )


def passes(promtool: str, rule: dict[str, Any], tests: list[dict[str, Any]], path: Path) -> None:
    run = run_promtool(promtool, rule, tests, path)
    assert run.returncode == 0, run.stdout + run.stderr


def page_and_ticket(rule: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    alerts = {a["labels"]["severity"]: expected(a) for a in alerts_named(rule, name)}
    return alerts["page"], alerts["ticket"]


def silent(name: str, *times: str) -> list[dict[str, Any]]:
    return [{"eval_time": t, "alertname": name, "exp_alerts": []} for t in times]


ENVS = ("staging", "prod")

# --- time to first token and time per output token ----------------------------------------------

# The p95 objectives leave a 5 % budget: 80 % of requests over the objective burn it 16×
# (past the page's 14.4×), 20 % burn it 4× (past the ticket's 3×, under the pages' 6×).
FAST = {0.5: 20, 2.5: 80}  # TTFT: 80 % over 1 s
SLOW = {0.5: 80, 2.5: 20}
FINE = {0.1: 60, 0.75: 37, 2.5: 3}  # 3 % over 1 s: p95 is within the objective
TOKEN_FAST = {0.03: 20, 0.1: 80}  # TPOT: 80 % over 50 ms
TOKEN_SLOW = {0.03: 80, 0.1: 20}
TOKEN_FINE = {0.03: 60, 0.05: 37, 0.075: 3}  # 50 ms exactly is within (le is inclusive)


def _case(kind: str, shape: dict[float, int], env: EnvironmentPlan) -> list[dict[str, str]]:
    return traffic(env, ttft=shape) if kind == "ttft" else traffic(env, tpot=shape)


SHAPES = {
    "ttft": (TTFT_BURN, FAST, SLOW, FINE),
    "tpot": (TPOT_BURN, TOKEN_FAST, TOKEN_SLOW, TOKEN_FINE),
}


@pytest.mark.parametrize("env_name", ENVS)
@pytest.mark.parametrize("kind", ["ttft", "tpot"])
def test_fast_token_latency_burn_pages(
    kind: str, env_name: str, promtool: str, tmp_path: Path
) -> None:
    """80 % of requests over the objective: a page after its 2m, the ticket too by 2h; the
    other token SLI and availability stay silent."""
    env, model = env_and_model(env_name)
    rule = llm_prometheus_rule(env, model)
    name, fast, _, _ = SHAPES[kind]
    other = TPOT_BURN if name == TTFT_BURN else TTFT_BURN
    page, ticket = page_and_ticket(rule, name)
    tests = [
        {
            "input_series": _case(kind, fast, env),
            "alert_rule_test": [
                *silent(name, "1m"),
                {"eval_time": "10m", "alertname": name, "exp_alerts": [page]},
                {"eval_time": "2h", "alertname": name, "exp_alerts": [page, ticket]},
                *silent(other, "10m", "2h"),
                *silent(BUDGET_BURN, "10m", "2h"),
            ],
        }
    ]
    passes(promtool, rule, tests, tmp_path)


@pytest.mark.parametrize("env_name", ENVS)
@pytest.mark.parametrize("kind", ["ttft", "tpot"])
def test_slow_token_latency_burn_opens_a_ticket(
    kind: str, env_name: str, promtool: str, tmp_path: Path
) -> None:
    env, model = env_and_model(env_name)
    rule = llm_prometheus_rule(env, model)
    name, _, slow, _ = SHAPES[kind]
    _, ticket = page_and_ticket(rule, name)
    tests = [
        {
            "input_series": _case(kind, slow, env),
            "alert_rule_test": [
                *silent(name, "10m"),  # the ticket's 15m have not passed; never a page
                {"eval_time": "1h", "alertname": name, "exp_alerts": [ticket]},
                {"eval_time": "4h", "alertname": name, "exp_alerts": [ticket]},
            ],
        }
    ]
    passes(promtool, rule, tests, tmp_path)


@pytest.mark.parametrize("env_name", ENVS)
@pytest.mark.parametrize("kind", ["ttft", "tpot"])
def test_token_latency_within_objective_is_silent(
    kind: str, env_name: str, promtool: str, tmp_path: Path
) -> None:
    """3 % of requests over the objective, the rest at or under it: no alert at any time."""
    env, model = env_and_model(env_name)
    rule = llm_prometheus_rule(env, model)
    name, _, _, fine = SHAPES[kind]
    tests = [
        {
            "input_series": _case(kind, fine, env),
            "alert_rule_test": silent(name, "10m", "1h", "2h", "5h"),
        }
    ]
    passes(promtool, rule, tests, tmp_path)


def test_token_slis_are_recorded_across_engines(promtool: str, tmp_path: Path) -> None:
    """Two data-parallel engines (engine="0", "1") of one pod are summed: 20 % and 40 % of
    their requests over 1 s, at equal rates, record a TTFT error ratio of 0.3 (a 6× burn)."""
    env, model = env_and_model("prod")
    rule = llm_prometheus_rule(env, model)
    series = histogram(env, TTFT, TTFT_BUCKETS, {0.5: 80, 2.5: 20}, engine="0")
    series += histogram(env, TTFT, TTFT_BUCKETS, {0.5: 60, 2.5: 40}, engine="1")
    ttft = f'{{environment="prod", model="{MODEL}", slo="ttft"}}'
    info = (
        f'modelkiln_slo_info{{environment="prod", model="{MODEL}", slo="ttft", objective="95",'
        ' mode="standard", period="30d", ttft_ms="1000", bucket_seconds="1"}'
    )
    tests = [
        {
            "input_series": series,
            "promql_expr_test": [
                {
                    "expr": f"round(slo:sli_error:ratio_rate5m{ttft}, 0.0001)",
                    "eval_time": "1h",
                    "exp_samples": [{"labels": ttft, "value": 0.3}],
                },
                {
                    "expr": f"round(slo:current_burn_rate:ratio{ttft}, 0.0001)",
                    "eval_time": "1h",
                    "exp_samples": [{"labels": ttft, "value": 6}],
                },
                {
                    "expr": f"modelkiln_slo_info{ttft}",
                    "eval_time": "1h",
                    "exp_samples": [{"labels": info, "value": 1}],
                },
            ],
        }
    ]
    passes(promtool, rule, tests, tmp_path)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ENVS)
def test_failed_requests_page(env_name: str, promtool: str, tmp_path: Path) -> None:
    """2 % of requests fail: prod's budget is 0.1 % (20×), staging's 1 % (2×: no page, and
    the ticket's 3× not reached either; so staging fails 5 %, 5×, a ticket)."""
    env, model = env_and_model(env_name)
    rule = llm_prometheus_rule(env, model)
    page, ticket = page_and_ticket(rule, BUDGET_BURN)
    if env_name == "prod":
        series = traffic(env, ok=98, errors=2)
        checks = [
            {"eval_time": "10m", "alertname": BUDGET_BURN, "exp_alerts": [page]},
            {"eval_time": "2h", "alertname": BUDGET_BURN, "exp_alerts": [page, ticket]},
        ]
    else:
        series = traffic(env, ok=95, errors=5)
        checks = [
            *silent(BUDGET_BURN, "10m"),
            {"eval_time": "1h", "alertname": BUDGET_BURN, "exp_alerts": [ticket]},
        ]
    tests = [{"input_series": series, "alert_rule_test": checks}]
    passes(promtool, rule, tests, tmp_path)


@pytest.mark.parametrize("env_name", ENVS)
def test_aborted_requests_are_not_failures(env_name: str, promtool: str, tmp_path: Path) -> None:
    """30 % of requests finished as aborted (finished_reason="abort"), none failed: the
    error ratio is 0, no alert."""
    env, model = env_and_model(env_name)
    rule = llm_prometheus_rule(env, model)
    availability = f'{{environment="{env.name}", model="{MODEL}", slo="availability"}}'
    tests = [
        {
            "input_series": traffic(env, ok=70, aborts=30),
            "promql_expr_test": [
                {
                    "expr": f"slo:sli_error:ratio_rate5m{availability}",
                    "eval_time": "30m",
                    "exp_samples": [
                        {"labels": f"slo:sli_error:ratio_rate5m{availability}", "value": 0}
                    ],
                }
            ],
            "alert_rule_test": silent(BUDGET_BURN, "10m", "2h", "5h"),
        }
    ]
    passes(promtool, rule, tests, tmp_path)


def test_staging_pages_when_the_gateway_fails_everything(promtool: str, tmp_path: Path) -> None:
    """No vLLM pod runs (no vLLM series at all), the gateway answers 503: the ratio is 1."""
    env, model = env_and_model("staging")
    rule = llm_prometheus_rule(env, model)
    page, _ = page_and_ticket(rule, BUDGET_BURN)
    tests = [
        {
            "input_series": gateway(env, ok=0, failed=50),
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": BUDGET_BURN, "exp_alerts": [page]},
            ],
        }
    ]
    passes(promtool, rule, tests, tmp_path)


def test_no_traffic_records_nothing(promtool: str, tmp_path: Path) -> None:
    """Series at 0 (a started, idle vLLM): no ratio, never NaN, no alert."""
    env, model = env_and_model("prod")
    rule = llm_prometheus_rule(env, model)
    idle = traffic(env, ttft={0.3: 0}, tpot={0.03: 0}, ok=0)
    tests = [
        {
            "input_series": idle,
            "promql_expr_test": [
                {"expr": "slo:sli_error:ratio_rate5m", "eval_time": "30m", "exp_samples": []},
            ],
            "alert_rule_test": silent(TTFT_BURN, "2h") + silent(TPOT_BURN, "2h"),
        }
    ]
    passes(promtool, rule, tests, tmp_path)


# --- the checks can fail -------------------------------------------------------------------------


def _mutate(rule: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The rule with `old` replaced by `new` in every expression (at least one)."""
    mutated = copy.deepcopy(rule)
    hits = 0
    for group in mutated["spec"]["groups"]:
        for r in group["rules"]:
            hits += old in r["expr"]
            r["expr"] = r["expr"].replace(old, new)
    assert hits
    return mutated


@pytest.mark.parametrize(
    ("kind", "old", "new"),
    [
        # the TTFT SLI reading the 2.5 s bucket instead of the objective's 1 s one
        ("ttft", 'le=~"1(\\\\.0+)?"', 'le="2.5"'),
        # the TPOT SLI reading the per-token histogram vLLM also exposes, whose bucket
        # counts are per token, not per request (here: no series at all)
        ("tpot", TPOT, "vllm:inter_token_latency_seconds"),
    ],
    ids=["ttft-wrong-bucket", "tpot-per-token-histogram"],
)
def test_a_mutated_rule_fails_the_promtool_test(
    kind: str, old: str, new: str, promtool: str, tmp_path: Path
) -> None:
    """The fast-burn test of test_fast_token_latency_burn_pages fails against a rule with
    a wrong SLI: the promtool tests can tell a wrong rule from a right one."""
    env, model = env_and_model("prod")
    rule = llm_prometheus_rule(env, model)
    name, fast, _, _ = SHAPES[kind]
    page, _ = page_and_ticket(rule, name)
    tests = [
        {
            "input_series": _case(kind, fast, env),
            "alert_rule_test": [{"eval_time": "10m", "alertname": name, "exp_alerts": [page]}],
        }
    ]
    for folder in ("right", "wrong"):
        (tmp_path / folder).mkdir()
    passes(promtool, rule, tests, tmp_path / "right")
    run = run_promtool(promtool, _mutate(rule, old, new), tests, tmp_path / "wrong")
    assert run.returncode != 0
    assert name in run.stdout + run.stderr
