"""Will a language model fit? The memory one replica needs on each of its GPUs against what
vLLM lets itself use of them (docs/llm.md, "The memory model").

Per GPU, with tp = the tensor-parallel size (the replica's GPUs):

    budget    = usable GPU memory (catalog, as CUDA reports it) × gpuMemoryUtilization
    weights   = parameters × bytes per parameter (dtype) / tp
    kv cache  = 2 (K and V) × layers × max(1, kv heads // tp) × head dim × bytes per element
                × ceil(max context tokens / 16) × 16 × concurrent sequences
    overhead  = OVERHEAD_GIB (the profiling run's activation peak and the memory CUDA
                libraries allocate during it)
    fits      = weights + kv cache + overhead ≤ budget

What vLLM does (vllm-project/vllm, vllm/v1/worker/gpu_worker.py Worker.init_device and
determine_available_memory; vllm/v1/core/kv_cache_utils.py check_enough_kv_cache_memory;
vllm/config/model.py get_num_kv_heads; vllm/v1/kv_cache_interface.py AttentionSpec
page_size_bytes): it requests total memory × gpu_memory_utilization on every GPU, subtracts
its weights shard, the activation peak and the non-torch memory of a profiling run, and gives
the rest to the KV cache, in blocks of 16 tokens; each GPU holds kv_heads / tp KV heads, or
one replicated head when there are fewer KV heads than GPUs. It refuses to start when that
rest cannot hold ONE sequence of max_model_len. modelkiln checks more: every one of
concurrentSequences at full length, the load the SLO is written for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.spec.llm import BYTES_PER_PARAMETER

GIB = 1024**3
BLOCK_TOKENS = 16  # vLLM's default KV-cache block on CUDA (CacheConfig.block_size)
# Per GPU. vLLM's own profile of Llama 3 8B on an H100 (vllm-project/vllm pull request 10511)
# measured 1.26 GiB of activation peak and 1.79 GiB of non-torch memory: 3.05 GiB, which
# reproduces its 53.29 GiB KV cache within 0.1 GiB (tests/test_llm_fit.py). Later releases
# count only the non-torch memory allocated during profiling (0.16 GiB in pull request 12126),
# so 3 GiB errs on the safe side. CUDA graphs are captured after the KV cache is allocated
# and live in the 1 - gpuMemoryUtilization share, with the CUDA context (docs/llm.md).
OVERHEAD_GIB = 3.0
KV_BYTES = {"auto": 2, "fp8": 1}  # auto: the model's 16-bit type


@dataclass(frozen=True)
class Architecture:
    layers: int
    kv_heads: int
    head_dim: int
    heads: int | None = None  # attention (query) heads; vLLM needs them divisible by tp


@dataclass(frozen=True)
class MemoryFit:
    """One replica's memory, GiB: what it needs and what vLLM may use of its GPUs. The
    totals are over the replica's GPUs; every GPU holds the same share."""

    weights_gib: float
    kv_cache_gib: float  # every GPU's share, replicated KV heads included
    overhead_gib: float
    device_gib: float  # usable memory of one GPU (or MIG slice)
    devices: int  # tensor-parallel size
    utilization: float  # gpuMemoryUtilization
    sequence_kv_gib: float = 0.0  # one max-context sequence on one GPU: vLLM's start check

    @property
    def needed_gib(self) -> float:
        return self.weights_gib + self.kv_cache_gib + self.overhead_gib

    @property
    def available_gib(self) -> float:
        return self.device_gib * self.utilization * self.devices

    @property
    def headroom_gib(self) -> float:
        return self.available_gib - self.needed_gib

    @property
    def fits(self) -> bool:
        return self.headroom_gib >= 0

    @property
    def kv_budget_gib(self) -> float:
        """What vLLM gives the KV cache on each GPU (negative: the weights do not fit)."""
        return (self.available_gib - self.weights_gib - self.overhead_gib) / self.devices

    @property
    def starts(self) -> bool:
        """vLLM's own check: the KV cache holds one sequence of max_model_len."""
        return self.kv_budget_gib >= self.sequence_kv_gib


def weights_bytes(parameters: int, dtype: str) -> float:
    return parameters * BYTES_PER_PARAMETER[dtype]


def kv_heads_per_gpu(arch: Architecture, tp: int) -> int:
    """vLLM's ModelConfig.get_num_kv_heads: split across GPUs, at least one (replicated)."""
    return max(1, arch.kv_heads // tp)


def kv_bytes_per_token(arch: Architecture, kv_cache_dtype: str, tp: int = 1) -> int:
    """One token's keys and values in one GPU's cache, every layer."""
    per_element = KV_BYTES[kv_cache_dtype]
    return 2 * arch.layers * kv_heads_per_gpu(arch, tp) * arch.head_dim * per_element


def sequence_tokens(context: int) -> int:
    """The tokens a sequence of this length occupies: whole blocks."""
    return math.ceil(context / BLOCK_TOKENS) * BLOCK_TOKENS


def kv_capacity_tokens(kv_budget_bytes: float, per_token: int) -> int:
    """Tokens a KV budget holds, in whole blocks (vLLM's 'GPU KV cache size')."""
    blocks = int(kv_budget_bytes // (per_token * BLOCK_TOKENS))
    return max(0, blocks) * BLOCK_TOKENS


def memory_fit(
    parameters: int,
    dtype: str,
    arch: Architecture,
    kv_cache_dtype: str,
    context: int,
    sequences: int,
    device_gib: float,
    devices: int,
    utilization: float,
) -> MemoryFit:
    per_gpu_token = kv_bytes_per_token(arch, kv_cache_dtype, devices)
    sequence = per_gpu_token * sequence_tokens(context)
    return MemoryFit(
        weights_gib=weights_bytes(parameters, dtype) / GIB,
        kv_cache_gib=sequence * sequences * devices / GIB,
        overhead_gib=OVERHEAD_GIB * devices,
        device_gib=device_gib,
        devices=devices,
        utilization=utilization,
        sequence_kv_gib=sequence / GIB,
    )


def longest_context(fit: MemoryFit, per_gpu_token: int, sequences: int) -> int:
    """The longest context (whole blocks) at which `sequences` sequences fit; 0: none."""
    return kv_capacity_tokens(fit.kv_budget_gib * GIB / sequences, per_gpu_token)


def most_sequences(fit: MemoryFit, per_gpu_token: int, context: int) -> int:
    """The most full-length sequences of `context` tokens that fit."""
    per_sequence = per_gpu_token * sequence_tokens(context)
    return max(0, int(fit.kv_budget_gib * GIB // per_sequence))
