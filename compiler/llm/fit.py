"""Will a language model fit? GPU memory for weights, KV cache and runtime overhead against
what vLLM may use of the GPUs one replica gets (docs/llm.md, "The memory model").

    weights   = parameters × bytes per parameter (dtype)
    kv cache  = 2 (K and V) × layers × kv heads × head dim × bytes per element
                × max context tokens × concurrent sequences      (every sequence at full length)
    overhead  = OVERHEAD_GIB per GPU (CUDA context, activations of the profiling batch, CUDA
                graphs, NCCL buffers)
    available = GPU memory × gpuMemoryUtilization × tensor-parallel size

vLLM (v0.11, vllm/worker/gpu_worker.py determine_available_memory) takes
gpu_memory_utilization × total memory, subtracts the weights and the peak activation
memory of a profiling run, and gives the rest to the KV cache; it refuses to start when
that rest cannot hold one sequence of max_model_len. Reserving every sequence at full
context here is stricter on purpose: it is the load the SLO was written for.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.spec.llm import BYTES_PER_PARAMETER

GIB = 1024**3
OVERHEAD_GIB = 2.0  # per GPU; see docs/llm.md for the figures it is read from
KV_BYTES = {"auto": 2, "fp8": 1}  # auto: the model's 16-bit type


@dataclass(frozen=True)
class Architecture:
    layers: int
    kv_heads: int
    head_dim: int


@dataclass(frozen=True)
class MemoryFit:
    """One replica's memory, GiB: what it needs and what vLLM may use of its GPUs."""

    weights_gib: float
    kv_cache_gib: float
    overhead_gib: float
    device_gib: float  # memory of one GPU (or MIG slice)
    devices: int  # tensor-parallel size
    utilization: float  # gpuMemoryUtilization

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


def weights_bytes(parameters: int, dtype: str) -> float:
    return parameters * BYTES_PER_PARAMETER[dtype]


def kv_bytes_per_token(arch: Architecture, kv_cache_dtype: str) -> int:
    return 2 * arch.layers * arch.kv_heads * arch.head_dim * KV_BYTES[kv_cache_dtype]


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
    kv = kv_bytes_per_token(arch, kv_cache_dtype) * context * sequences
    return MemoryFit(
        weights_gib=weights_bytes(parameters, dtype) / GIB,
        kv_cache_gib=kv / GIB,
        overhead_gib=OVERHEAD_GIB * devices,
        device_gib=device_gib,
        devices=devices,
        utilization=utilization,
    )
