"""Language models served by vLLM: every derived value of serving.llm, once (docs/llm.md).

peak tokens/s      = slo.tokensPerSecond, or slo.requestsPerSecond × outputTokensPerRequest
replica capacity   = capacityTokensPerSecond, or concurrentSequences × 1000 / tpotP95Ms
                     (what a replica that meets the TPOT objective with a full batch
                     delivers at least; a measured figure is better)
replicas           = compiler.slo.replicas over tokens/s (the same 70 % headroom)
queue target       = waiting requests per replica the autoscaler keeps (compiler.llm.scaling)
cost per M tokens  = USD per hour of the replicas the peak needs / (peak tokens/s × 3600) × 10⁶
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.llm.families import family
from compiler.llm.fit import Architecture, MemoryFit
from compiler.serving_metrics import Series
from compiler.spec.llm import Llm

MILLION = 1_000_000


@dataclass(frozen=True)
class LlmMetrics:
    """vLLM's metric names in one environment (Project serving.llm.metrics)."""

    ttft: str
    tpot: str
    requests: str
    waiting: str
    kv_cache: str
    # the SLOs' (compiler/llm/metrics.py): the model's series, its failed requests (a counter
    # of their own, or matchers on requests), the histograms' bounds in seconds
    selector: str = ""
    errors: Series | None = None
    separate_errors: bool = False
    ttft_buckets: tuple[float, ...] = ()
    tpot_buckets: tuple[float, ...] = ()


@dataclass(frozen=True)
class LlmPlan:
    source: str
    parameters: int
    dtype: str
    kv_cache_dtype: str
    architecture: Architecture
    max_context_tokens: int
    concurrent_sequences: int
    output_tokens_per_request: int
    tensor_parallel: int
    gpu_memory_utilization: float
    ttft_p95_ms: float
    tpot_p95_ms: float
    availability: float  # percent
    peak_tokens_per_second: float
    capacity_tokens_per_second: float  # one replica
    api: str  # inferenceservice | llminferenceservice
    metrics: LlmMetrics
    fit: MemoryFit | None = None  # None on CPU nodes
    usd_per_million_tokens: float | None = None  # None without a price (CPU, no catalog entry)

    @property
    def error_budget(self) -> float:
        return 1 - self.availability / 100


def parameters_of(llm: Llm) -> int | None:
    if llm.parameters is not None:
        return llm.parameters
    known = family(llm.family) if llm.family else None
    return known.parameters if known else None


def architecture_of(llm: Llm) -> Architecture | None:
    known = family(llm.family) if llm.family else None
    if llm.architecture is not None:
        a = llm.architecture
        heads = a.heads if a.heads is not None else (known.architecture.heads if known else None)
        return Architecture(a.layers, a.kv_heads, a.head_dim, heads)
    return known.architecture if known else None


def peak_tokens_per_second(llm: Llm) -> float:
    slo = llm.slo
    if slo.tokens_per_second is not None:
        return slo.tokens_per_second
    assert slo.requests_per_second is not None  # exactly one, LlmSlo checks
    return slo.requests_per_second * llm.output_tokens_per_request


def capacity_tokens_per_second(llm: Llm) -> float:
    if llm.capacity_tokens_per_second is not None:
        return llm.capacity_tokens_per_second
    return llm.concurrent_sequences * 1000 / llm.slo.tpot_p95_ms


def tensor_parallel(llm: Llm, gpus: int) -> int:
    return llm.tensor_parallel if llm.tensor_parallel is not None else max(1, gpus)


def usd_per_million_tokens(usd_per_replica_hour: float, replicas: int, peak: float) -> float:
    """The replicas the peak needs, per million tokens produced at the peak."""
    return usd_per_replica_hour * replicas / (peak * 3600) * MILLION
