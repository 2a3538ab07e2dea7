"""What would make a language model fit (the hint of MK370): each remedy is computed with the
same memory model (compiler.llm.fit) and named only when it does fit."""

from __future__ import annotations

from compiler import catalog
from compiler.llm import architecture_of
from compiler.llm.fit import (
    BLOCK_TOKENS,
    MemoryFit,
    kv_bytes_per_token,
    longest_context,
    most_sequences,
)
from compiler.llm.planning import fit_on
from compiler.spec.llm import BYTES_PER_PARAMETER, Llm


def _fits(llm: Llm, accelerator: str, gpus: int) -> bool:
    fit = fit_on(llm, accelerator, gpus)
    return fit is not None and fit.fits


def more_gpus(llm: Llm, accelerator: str, gpus: int, per_node: int) -> int | None:
    """The fewest GPUs per replica, up to the pool's node, that fit with tensorParallel =
    those GPUs and that vLLM accepts (attention heads divisible by them)."""
    arch = architecture_of(llm)
    wider = llm.model_copy(update={"tensor_parallel": None})
    for n in range(gpus + 1, per_node + 1):
        if arch is not None and arch.heads is not None and arch.heads % n:
            continue
        if _fits(wider, accelerator, n):
            return n
    return None


def larger_accelerator(llm: Llm, accelerator: str, gpus: int, cloud: str) -> str | None:
    """The catalog accelerator with the least memory above this one's that the cloud offers
    with at least `gpus` GPUs per machine and on which the replica fits."""
    here = catalog.usable_memory_gib(accelerator)
    for name in sorted(catalog.accelerators(), key=catalog.usable_memory_gib):
        offer = catalog.offering(name, cloud)
        if catalog.usable_memory_gib(name) <= here or offer is None:
            continue
        if any(n >= gpus for _, n in offer.machine_types) and _fits(llm, name, gpus):
            return name
    return None


def _smaller(llm: Llm, accelerator: str, gpus: int) -> list[str]:
    """Quantised weights or an fp8 KV cache that fit, smallest change first."""
    out: list[str] = []
    size = BYTES_PER_PARAMETER[llm.dtype]
    for dtype in ("fp8", "int4"):
        smaller = BYTES_PER_PARAMETER[dtype] < size
        if smaller and _fits(llm.model_copy(update={"dtype": dtype}), accelerator, gpus):
            out.append(f"dtype: {dtype}")
            break
    fp8_kv = llm.model_copy(update={"kv_cache_dtype": "fp8"})
    if llm.kv_cache_dtype == "auto" and _fits(fp8_kv, accelerator, gpus):
        out.append("kvCacheDtype: fp8")
    return out


def _shorter(llm: Llm, fit: MemoryFit) -> list[str]:
    arch = architecture_of(llm)
    if arch is None or fit.kv_budget_gib <= 0:
        return []
    per_token = kv_bytes_per_token(arch, llm.kv_cache_dtype, fit.devices)
    out = []
    context = longest_context(fit, per_token, llm.concurrent_sequences)
    if context >= BLOCK_TOKENS:
        out.append(f"maxContextTokens: {context}")
    sequences = most_sequences(fit, per_token, llm.max_context_tokens)
    if sequences >= 1:
        out.append(f"concurrentSequences: {sequences}")
    return out


def remedies(
    llm: Llm, fit: MemoryFit, accelerator: str, gpus: int, per_node: int, cloud: str
) -> list[str]:
    """Every remedy that fits: more GPUs, a larger accelerator, quantisation, less KV cache."""
    out: list[str] = []
    n = more_gpus(llm, accelerator, gpus, per_node)
    if n is not None:
        out.append(f"gpus: {n} per replica (tensorParallel {n})")
    larger = larger_accelerator(llm, accelerator, gpus, cloud)
    if larger is not None:
        out.append(f"a GpuPool of {larger}")
    return out + _smaller(llm, accelerator, gpus) + _shorter(llm, fit)
