"""Where a language model's SLOs read vLLM's metrics in one environment (docs/llm.md,
"Token SLOs"). Defaults from vLLM 0.24.0, the release KServe v0.20.0 pins (kserve
python/kserve/pyproject.toml ``vllm==0.24.0``; vllm v0.24.0 vllm/v1/metrics/loggers.py):

* ``vllm:time_to_first_token_seconds`` and ``vllm:request_time_per_output_token_seconds``:
  histograms with labels ``model_name`` (the engine's served model name) and ``engine``
  (the data-parallel rank), one observation per request, buckets below;
* ``vllm:request_success_total{finished_reason}``: every finished request, whatever its
  finish reason (stop, length, abort, error, repetition);
* ``vllm:num_requests_waiting``, ``vllm:kv_cache_usage_perc``: gauges.

vLLM's ``model_name`` is the served model name, which differs per api (KServe's Hugging Face
server keeps vLLM's default, the model path, unless --served-model-name is given), so a
model's series are found by the scraped ``namespace`` and ``pod`` labels instead: the pods
of the predictor Deployment ``<isvc>-predictor`` (KServe v0.20.0, Standard mode), of the
Knative revision ``<isvc>-predictor-0000n``, or of the LLMInferenceService's main workload
``<name>-kserve`` (kserve aaac4e294dae pkg/controller/v1alpha2/llmisvc/workload_single_node.go
mainDeploymentName; its prefill pods ``<name>-kserve-prefill-…`` are left out)."""

from __future__ import annotations

from compiler.llm import LlmMetrics
from compiler.serving_metrics import DEFAULTS as MODE_DEFAULTS
from compiler.serving_metrics import Series, deployment_pods
from compiler.spec.metrics import ErrorSource
from compiler.spec.project import Environment

# vllm v0.24.0 vllm/v1/metrics/loggers.py: histogram_time_to_first_token
TTFT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
# histogram_request_time_per_output_token (the same bounds as inter_token_latency)
TPOT_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0,
)  # fmt: skip

_NAMESPACE = 'namespace="{namespace}", '
SELECTORS = {
    ("inferenceservice", "standard"): _NAMESPACE + f'pod=~"{deployment_pods("{model}-predictor")}"',
    ("inferenceservice", "knative"): _NAMESPACE + 'pod=~"{model}-predictor-[0-9]+-deployment-.+"',
    ("llminferenceservice", "standard"): _NAMESPACE + f'pod=~"{deployment_pods("{model}-kserve")}"',
}
SELECTORS[("llminferenceservice", "knative")] = SELECTORS[("llminferenceservice", "standard")]
VLLM_ERROR = ErrorSource(selector='finished_reason="error"')
# Knative's queue-proxy counts responses by status code in front of vLLM
# (compiler/serving_metrics.py): its 5xx, a counter of their own here.
KNATIVE_ERRORS = ErrorSource(
    metric="kn_serving_invocation_duration_seconds_count",
    selector=MODE_DEFAULTS["knative"][1].selector
    + ", "
    + SELECTORS[("inferenceservice", "knative")],
    revision_pattern="(.+)-deployment-.+",
)


def ttft_buckets(env: Environment) -> tuple[float, ...]:
    given = env.serving.llm.metrics.ttft_buckets
    return tuple(given) if given is not None else TTFT_BUCKETS


def tpot_buckets(env: Environment) -> tuple[float, ...]:
    given = env.serving.llm.metrics.tpot_buckets
    return tuple(given) if given is not None else TPOT_BUCKETS


def selector(env: Environment) -> str:
    given = env.serving.llm.metrics.selector
    return given if given is not None else SELECTORS[(env.serving.llm.api, env.serving.mode)]


def error_source(env: Environment) -> ErrorSource:
    """What counts as a failed request (docs/llm.md): the environment's own choice; else the
    HTTP 5xx that the ingress (Standard mode: Istio's gateway, serving_metrics' default or the
    environment's serving.metrics.errors) or Knative's queue-proxy answers in front of the
    Hugging Face server; else, behind an LLMInferenceService's Gateway (no <isvc>-predictor
    Service to count), vLLM's own finished_reason="error" (always a 500)."""
    llm = env.serving.llm
    if llm.metrics.errors is not None:
        return llm.metrics.errors
    if llm.api == "llminferenceservice":
        return VLLM_ERROR
    if env.serving.mode == "knative":
        return KNATIVE_ERRORS
    given = env.serving.metrics.errors
    if given is not None and given.metric is not None:
        return given
    return MODE_DEFAULTS["standard"][1]


def series(env: Environment, model: str) -> tuple[str, Series, bool]:
    """(the filled selector of the model's vLLM series, its failed requests, whether those
    are a counter of their own)."""

    def fill(text: str) -> str:
        return text.replace("{namespace}", env.namespace).replace("{model}", model)

    chosen = fill(selector(env))
    errors = error_source(env)
    requests = env.serving.llm.metrics.requests
    if errors.metric is None:
        matchers = ", ".join((chosen, fill(errors.selector)))
        return chosen, Series(requests, matchers, "pod", "(.+)"), False
    failed = Series(
        errors.metric, fill(errors.selector), errors.revision_label, errors.revision_pattern
    )
    return chosen, failed, True


def llm_metrics(env: Environment, model: str) -> LlmMetrics:
    names = env.serving.llm.metrics
    chosen, errors, separate = series(env, model)
    return LlmMetrics(
        names.ttft,
        names.tpot,
        names.requests,
        names.waiting,
        names.kv_cache,
        selector=chosen,
        errors=errors,
        separate_errors=separate,
        ttft_buckets=ttft_buckets(env),
        tpot_buckets=tpot_buckets(env),
    )
