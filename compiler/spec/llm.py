"""serving.llm of a Model: a language model served by vLLM (docs/llm.md), and the
environment's LLM serving settings (Project environments[].serving.llm)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

from compiler.spec.base import Strict
from compiler.spec.metrics import ErrorSource, first_out_of_order
from compiler.spec.storage import ArtifactUri
from compiler.spec.types import Line

# Weight precision: fp16 and bf16 are the checkpoint's own; fp8 is vLLM's online fp8
# quantisation (or an fp8 checkpoint); int8 and int4 name a pre-quantised checkpoint (W8A8,
# AWQ, GPTQ), whose quantization_config vLLM reads from the checkpoint itself.
Dtype = Literal["fp16", "bf16", "fp8", "int8", "int4"]
BYTES_PER_PARAMETER: dict[str, float] = {
    "fp16": 2,
    "bf16": 2,
    "fp8": 1,
    "int8": 1,
    "int4": 0.5,
}
MAX_PARAMETERS = 10**14  # 100 T: above any model that exists
_COUNT = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMBT])$")
_SCALE = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def _parameter_count(value: Any) -> Any:
    """8030000000, "8B", "70.6B", "1.5T" → an integer count."""
    if isinstance(value, str):
        match = _COUNT.match(value.strip())
        if match is None:
            raise PydanticCustomError(
                "MK240",
                "parameters '{found}' is not a count",
                {"found": value, "hint": "write a number or a count like 8B, 70.6B, 1.5T"},
            )
        number, unit = match.groups()
        return round(float(number) * _SCALE[unit])
    return value


ParameterCount = Annotated[
    int,
    BeforeValidator(_parameter_count),
    Field(ge=1_000_000, le=MAX_PARAMETERS),
    WithJsonSchema(
        {
            "description": "Parameter count: a number or a count like 8B, 70.6B, 1.5T.",
            "anyOf": [
                {"type": "integer", "minimum": 1_000_000, "maximum": MAX_PARAMETERS},
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?[KMBT]$"},
            ],
        }
    ),
]
# The weights, fetched as KServe's storage initializer fetches any model artifact: hf://
# (pinned with :revision), gs://, s3://, Azure blob https://, pvc://, oci:// (no azure://:
# KServe v0.20 has no such scheme and would never download the model).
LlmSource = ArtifactUri


class LlmArchitecture(Strict):
    """The numbers the KV cache depends on (config.json: num_hidden_layers,
    num_key_value_heads, head_dim or hidden_size / num_attention_heads)."""

    layers: int = Field(ge=1, le=1000)
    kv_heads: int = Field(ge=1, le=1024, description="Key/value heads (GQA); = heads for MHA.")
    head_dim: int = Field(ge=1, le=4096)
    heads: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Attention (query) heads, num_attention_heads; vLLM needs them divisible "
        "by tensorParallel. Default: the family's, else unchecked.",
    )


class LlmSlo(Strict):
    ttft_p95_ms: float = Field(gt=0, le=3_600_000, description="p95 time to first token.")
    tpot_p95_ms: float = Field(
        gt=0, le=60_000, description="p95 time per output token after the first."
    )
    availability: float = Field(gt=0, lt=100, description="Percent over a 30-day window.")
    tokens_per_second: float | None = Field(
        default=None, gt=0, le=1e9, description="Peak output tokens per second to provision for."
    )
    requests_per_second: float | None = Field(
        default=None,
        gt=0,
        le=1e9,
        description="Peak requests per second; tokens/s = this × outputTokensPerRequest.",
    )

    @model_validator(mode="after")
    def _one_throughput(self) -> LlmSlo:
        if (self.tokens_per_second is None) == (self.requests_per_second is None):
            raise PydanticCustomError(
                "MK241",
                "the LLM SLO needs exactly one throughput: tokensPerSecond or requestsPerSecond",
                {
                    **({"field": "requestsPerSecond"} if self.requests_per_second else {}),
                    "at_key": True,
                    "hint": "give the peak as tokensPerSecond (output tokens) or requestsPerSecond",
                },
            )
        return self


class Llm(Strict):
    source: LlmSource
    family: Line | None = Field(
        default=None,
        description="A model family of the built-in table (docs/llm.md) giving parameters and "
        "architecture; given values win.",
    )
    parameters: ParameterCount | None = Field(
        default=None, description="Parameter count; default: the family's."
    )
    architecture: LlmArchitecture | None = Field(default=None, description="Default: the family's.")
    dtype: Dtype = Field(default="bf16", description="Weight precision or quantisation.")
    kv_cache_dtype: Literal["auto", "fp8"] = Field(
        default="auto",
        description="auto: the model's 16-bit type (vLLM's default, also for quantised "
        "weights); fp8 halves the KV cache.",
    )
    max_context_tokens: int = Field(
        ge=16, le=10_000_000, description="Longest sequence, prompt and output (--max-model-len)."
    )
    concurrent_sequences: int = Field(
        ge=1, le=4096, description="Sequences one replica serves at once (--max-num-seqs)."
    )
    output_tokens_per_request: int = Field(
        default=256,
        ge=1,
        le=10_000_000,
        description="Mean output tokens per request: converts requests/s to tokens/s and "
        "sizes the autoscaler's queue target.",
    )
    tensor_parallel: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="--tensor-parallel-size; default the GPUs per replica.",
    )
    gpu_memory_utilization: float = Field(
        default=0.9,
        gt=0,
        le=0.98,
        description="Share of each GPU's memory vLLM may use (--gpu-memory-utilization).",
    )
    capacity_tokens_per_second: float | None = Field(
        default=None,
        gt=0,
        le=1e9,
        description="Output tokens/s one replica sustains within the TPOT objective, "
        "measured; default concurrentSequences × 1000 / tpotP95Ms (docs/llm.md).",
    )
    slo: LlmSlo


class LlmMetricNames(Strict):
    """vLLM's Prometheus metric names and where a model's series are (defaults: vLLM 0.24.0,
    the release KServe v0.20.0 pins; docs/llm.md "Token SLOs")."""

    ttft: Line = Field(
        default="vllm:time_to_first_token_seconds",
        min_length=1,
        description="Histogram (seconds) of the time to first token, one observation a request.",
    )
    tpot: Line = Field(
        default="vllm:request_time_per_output_token_seconds",
        min_length=1,
        description="Histogram (seconds) of a request's mean time per output token after the "
        "first, one observation a request.",
    )
    requests: Line = Field(
        default="vllm:request_success_total",
        min_length=1,
        description="Counter of finished requests (label finished_reason).",
    )
    waiting: Line = Field(default="vllm:num_requests_waiting", min_length=1)
    kv_cache: Line = Field(default="vllm:kv_cache_usage_perc", min_length=1)
    selector: Line | None = Field(
        default=None,
        min_length=1,
        description="PromQL label matchers of one model's vLLM series; {namespace} and {model} "
        "are replaced. Default: the namespace and the pods of the api's Deployment.",
    )
    errors: ErrorSource | None = Field(
        default=None,
        description="Failed requests: matchers on the requests counter, or a counter of their "
        "own. Default: the ingress's 5xx (inferenceservice in standard mode), else vLLM's "
        'finished_reason="error".',
    )
    ttft_buckets: list[float] | None = Field(
        default=None,
        min_length=1,
        description="Upper bounds (seconds) of the ttft histogram's buckets, without +Inf; "
        "ttftP95Ms is checked against them. Default: vLLM 0.24.0's.",
    )
    tpot_buckets: list[float] | None = Field(
        default=None,
        min_length=1,
        description="Upper bounds (seconds) of the tpot histogram's buckets, without +Inf; "
        "tpotP95Ms is checked against them. Default: vLLM 0.24.0's.",
    )

    @field_validator("ttft_buckets", "tpot_buckets")
    @classmethod
    def _increasing(cls, value: list[float] | None) -> list[float] | None:
        found = first_out_of_order(value)
        if found is not None:
            raise PydanticCustomError(
                "MK392",
                "LLM histogram buckets must be positive seconds in increasing order, without "
                "repeats (found {found})",
                {
                    "found": f"{found:g}",
                    "hint": "list the bounds as vLLM exposes them, smallest first, without +Inf",
                },
            )
        return value


class EnvironmentLlm(Strict):
    api: Literal["inferenceservice", "llminferenceservice"] = Field(
        default="inferenceservice",
        description="llminferenceservice where KServe's LLMInferenceService controller is "
        "installed; else an InferenceService on the Hugging Face runtime's vLLM backend.",
    )
    metrics: LlmMetricNames = Field(default_factory=LlmMetricNames)
