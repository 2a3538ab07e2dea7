"""serving.llm of one Model in one environment → LlmPlan (called by compiler/planner.py)."""

from __future__ import annotations

from compiler import slo
from compiler.llm import (
    LlmPlan,
    architecture_of,
    capacity_tokens_per_second,
    parameters_of,
    peak_tokens_per_second,
    tensor_parallel,
    usd_per_million_tokens,
)
from compiler.llm.fit import MemoryFit, memory_fit
from compiler.llm.metrics import llm_metrics
from compiler.plan import PoolPlan
from compiler.sharing import PoolSharing, device_memory_gib, utilization_share
from compiler.slo import scale_target
from compiler.spec.llm import Llm
from compiler.spec.project import Environment


def fit_on(
    llm: Llm, accelerator: str, gpus: int, sharing: PoolSharing | None = None
) -> MemoryFit | None:
    """The memory fit of one replica on gpus of accelerator (of MIG slices or time-sliced
    GPUs with sharing: compiler/sharing.py); None when the numbers it needs are missing
    (validation reports that, MK245)."""
    parameters, arch = parameters_of(llm), architecture_of(llm)
    if parameters is None or arch is None:
        return None
    return memory_fit(
        parameters,
        llm.dtype,
        arch,
        llm.kv_cache_dtype,
        llm.max_context_tokens,
        llm.concurrent_sequences,
        device_memory_gib(accelerator, sharing),
        tensor_parallel(llm, gpus),
        gpu_memory_utilization(llm, sharing),
    )


def gpu_memory_utilization(llm: Llm, sharing: PoolSharing | None) -> float:
    """vLLM's --gpu-memory-utilization: the spec's, divided among the replicas that share a
    time-sliced GPU (each takes its fraction of the whole device's memory)."""
    return llm.gpu_memory_utilization / utilization_share(sharing)


def needed_replicas(llm: Llm) -> int:
    """Replicas that carry the peak at the safe load (the SLO's, not the autoscaler's max)."""
    target = scale_target(capacity_tokens_per_second(llm))
    return slo.needed_replicas(peak_tokens_per_second(llm), target)


def llm_plan(
    llm: Llm, env: Environment, pool: PoolPlan | None, gpus: int, name: str = ""
) -> LlmPlan:
    parameters, arch = parameters_of(llm), architecture_of(llm)
    assert parameters is not None and arch is not None  # validation refuses otherwise
    sharing = pool.sharing if pool is not None else None
    fit = fit_on(llm, pool.accelerator, gpus, sharing) if pool is not None else None
    cost = None
    if pool is not None and gpus:
        # a replica on a shared GPU pays its share: the GPU's price / slices (or clients)
        hourly = pool.cost.usd_per_gpu_hour * gpus / pool.devices_per_gpu
        cost = usd_per_million_tokens(hourly, needed_replicas(llm), peak_tokens_per_second(llm))
    return LlmPlan(
        source=llm.source,
        parameters=parameters,
        dtype=llm.dtype,
        kv_cache_dtype=llm.kv_cache_dtype,
        architecture=arch,
        max_context_tokens=llm.max_context_tokens,
        concurrent_sequences=llm.concurrent_sequences,
        output_tokens_per_request=llm.output_tokens_per_request,
        tensor_parallel=tensor_parallel(llm, gpus),
        gpu_memory_utilization=gpu_memory_utilization(llm, sharing),
        ttft_p95_ms=llm.slo.ttft_p95_ms,
        tpot_p95_ms=llm.slo.tpot_p95_ms,
        availability=llm.slo.availability,
        peak_tokens_per_second=peak_tokens_per_second(llm),
        capacity_tokens_per_second=capacity_tokens_per_second(llm),
        api=env.serving.llm.api,
        metrics=llm_metrics(env, name),
        fit=fit,
        usd_per_million_tokens=cost,
    )
