"""The LLM memory model (compiler/llm/fit.py) against figures vLLM itself published, and the
fit check's hint (compiler/llm/remedies.py) against the same model.

Published figures used (vLLM's own startup logs, quoted in vllm-project/vllm and LMCache):
- vllm-project/vllm pull request 10511 (youkaichao, 2024-12-14), `vllm serve
  meta-llama/Meta-Llama-3-8B` on an H100: total_gpu_memory 79.22GiB, gpu_memory_utilization
  0.90, "the current vLLM instance can use 71.29GiB", "model weights take 14.96GiB",
  non_torch_memory 1.79GiB, "PyTorch activation peak memory 1.26GiB",
  available_kv_cache_memory 53.29GiB; with -tp 2: "model weights take 7.48GiB".
- vllm-project/vllm pull request 17122 (2025-04-24), meta-llama/Llama-3.1-8B-Instruct on an
  L40S: "Model loading took 14.9889 GiB".
- LMCache/LMCache issue 1739 (2025-10-03), Qwen3-14B on one GPU: "Available KV cache memory:
  6.51 GiB", "GPU KV cache size: 42,656 tokens", "Maximum concurrency for 32,768 tokens per
  request: 1.30x". Qwen3-14B's config.json: 40 layers, 8 KV heads, head_dim 128.
No published figure of KV bytes per token for Llama 3 70B (the often quoted 320 KiB) was
found in a primary source; that case is checked against the config.json arithmetic only.
"""

from __future__ import annotations

import pytest

from compiler import catalog
from compiler.llm.families import FAMILIES
from compiler.llm.fit import (
    GIB,
    OVERHEAD_GIB,
    Architecture,
    MemoryFit,
    kv_bytes_per_token,
    kv_capacity_tokens,
    memory_fit,
    sequence_tokens,
)
from compiler.llm.remedies import remedies
from compiler.spec.llm import Llm

QWEN3_14B = Architecture(layers=40, kv_heads=8, head_dim=128, heads=40)


def _fit(
    family: str, dtype: str, context: int, sequences: int, device_gib: float, tp: int
) -> MemoryFit:
    f = FAMILIES[family]
    return memory_fit(
        f.parameters, dtype, f.architecture, "auto", context, sequences, device_gib, tp, 0.9
    )


def test_weights_match_vllm_model_loading() -> None:
    """PR 10511: 14.96 GiB at tp 1, 7.48 GiB per GPU at tp 2; PR 17122: 14.9889 GiB."""
    fit = _fit("llama-3.1-8b", "bf16", 8192, 1, 79.22, 1)
    assert round(fit.weights_gib, 2) == 14.96
    assert round(_fit("llama-3.1-8b", "bf16", 8192, 1, 79.22, 2).weights_gib / 2, 2) == 7.48
    assert abs(fit.weights_gib - 14.9889) < 0.05  # vLLM also counts a few buffers


def test_kv_budget_reproduces_vllm_profile() -> None:
    """PR 10511: 79.22 GiB × 0.90 - 14.96 weights - 1.79 non-torch - 1.26 activations =
    53.29 GiB for the KV cache; OVERHEAD_GIB is those last two, rounded."""
    assert abs(79.22 * 0.9 - 71.29) < 0.01  # 79.22 is itself rounded
    assert abs(OVERHEAD_GIB - (1.79 + 1.26)) < 0.1
    fit = _fit("llama-3.1-8b", "bf16", 8192, 1, 79.22, 1)
    assert abs(fit.kv_budget_gib - 53.29) < 0.1


def test_kv_bytes_per_token_match_vllm_cache_size() -> None:
    """LMCache issue 1739: 6.51 GiB of KV cache hold 42,656 tokens of Qwen3-14B (160 KiB a
    token: 2 × 40 layers × 8 KV heads × 128 × 2 bytes), in 16-token blocks."""
    per_token = kv_bytes_per_token(QWEN3_14B, "auto")
    assert per_token == 160 * 1024
    assert kv_capacity_tokens(6.51 * GIB, per_token) == 42_656
    assert round(42_656 / sequence_tokens(32_768), 2) == 1.30


def test_kv_heads_split_across_tensor_parallel_and_replicate_below_one() -> None:
    """vLLM ModelConfig.get_num_kv_heads: max(1, kv_heads // tp). Llama 3.1 70B (config.json:
    80 layers, 8 KV heads, head_dim 128) holds 320 KiB a token in bf16, 80 KiB on each of 4
    GPUs, and 40 KiB on each of 16 (one KV head replicated: 640 KiB across the replica)."""
    arch = FAMILIES["llama-3.1-70b"].architecture
    assert kv_bytes_per_token(arch, "auto") == 320 * 1024
    assert kv_bytes_per_token(arch, "auto", 4) == 80 * 1024
    assert kv_bytes_per_token(arch, "fp8", 4) == 40 * 1024
    assert kv_bytes_per_token(arch, "auto", 16) == 40 * 1024
    assert kv_bytes_per_token(arch, "auto", 16) * 16 == 2 * kv_bytes_per_token(arch, "auto")


def test_sequences_occupy_whole_blocks() -> None:
    assert sequence_tokens(8192) == 8192
    assert sequence_tokens(8193) == 8208
    one = _fit("llama-3.1-8b", "fp8", 100, 1, 22.49, 1)
    assert one.sequence_kv_gib * GIB == 112 * 128 * 1024


def test_vllm_starts_where_the_stricter_check_refuses() -> None:
    """vLLM needs one max-length sequence; modelkiln needs all concurrent sequences."""
    fit = _fit("llama-3.1-8b", "bf16", 8192, 8, catalog.usable_memory_gib("nvidia-l4"), 1)
    assert fit.starts and not fit.fits
    worse = _fit("llama-3.1-8b", "bf16", 131072, 1, catalog.usable_memory_gib("nvidia-l4"), 1)
    assert not worse.starts


def test_budget_is_per_gpu_of_cuda_visible_memory() -> None:
    """gpu_memory_utilization applies to the total CUDA reports, per GPU, not to the size
    the GPU is sold as."""
    fit = _fit("llama-3.1-70b", "bf16", 8192, 48, catalog.usable_memory_gib("nvidia-h100-80gb"), 4)
    assert fit.available_gib == pytest.approx(4 * 81121 / 1024 * 0.9)
    assert fit.available_gib < 4 * catalog.gpu_memory_gib("nvidia-h100-80gb") * 0.9
    assert fit.fits and fit.headroom_gib == pytest.approx(21.77, abs=0.01)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_numbers_are_consistent(name: str) -> None:
    f = FAMILIES[name]
    arch = f.architecture
    assert arch.heads is not None and arch.heads % arch.kv_heads == 0  # GQA groups
    assert f.max_context >= 8192 and f.repository.count("/") == 1
    # the parameter count is the one the name rounds (Llama 3.2 1B has 1.24 B)
    size = float(name.rsplit("-", 1)[1].removesuffix("b").replace("8x7", "46.7"))
    assert abs(f.parameters / 1e9 - size) / size < 0.25


def _llm(**changes: object) -> Llm:
    spec = {
        "source": "hf://meta-llama/Llama-3.1-8B-Instruct",
        "family": "llama-3.1-8b",
        "dtype": "bf16",
        "maxContextTokens": 8192,
        "concurrentSequences": 8,
        "slo": {"ttftP95Ms": 800, "tpotP95Ms": 40, "availability": 99.5, "tokensPerSecond": 9},
    }
    spec.update(changes)
    return Llm.model_validate(spec)


def test_every_remedy_named_does_fit() -> None:
    from compiler.llm.planning import fit_on

    llm = _llm()
    fit = fit_on(llm, "nvidia-l4", 1)
    assert fit is not None and not fit.fits
    named = remedies(llm, fit, "nvidia-l4", 1, 4, "gcp")
    assert named == [
        "gpus: 2 per replica (tensorParallel 2)",
        "a GpuPool of nvidia-a100-40gb",
        "dtype: fp8",
        "maxContextTokens: 2336",
        "concurrentSequences: 2",
    ]
    checks = {
        "gpus: 2 per replica (tensorParallel 2)": (llm, "nvidia-l4", 2),
        "a GpuPool of nvidia-a100-40gb": (llm, "nvidia-a100-40gb", 1),
        "dtype: fp8": (_llm(dtype="fp8"), "nvidia-l4", 1),
        "maxContextTokens: 2336": (_llm(maxContextTokens=2336), "nvidia-l4", 1),
        "concurrentSequences: 2": (_llm(concurrentSequences=2), "nvidia-l4", 1),
    }
    for remedy, (changed, accelerator, gpus) in checks.items():
        after = fit_on(changed, accelerator, gpus)
        assert after is not None and after.fits, remedy
    # ... and each is the limit: one step further does not fit
    for changed in (_llm(maxContextTokens=2352), _llm(concurrentSequences=3)):
        after = fit_on(changed, "nvidia-l4", 1)
        assert after is not None and not after.fits


def test_no_gpu_count_that_splits_no_heads() -> None:
    """Qwen2.5 7B has 28 attention heads: 8 GPUs cannot serve it, the next count that fits
    and divides them is named instead."""
    from compiler.llm.planning import fit_on

    llm = _llm(family="qwen2.5-7b", maxContextTokens=32768, concurrentSequences=16)
    fit = fit_on(llm, "nvidia-l4", 1)
    assert fit is not None and not fit.fits
    gpus = [r for r in remedies(llm, fit, "nvidia-l4", 1, 8, "gcp") if r.startswith("gpus")]
    assert gpus == ["gpus: 4 per replica (tensorParallel 4)"]


def test_nothing_is_named_when_nothing_fits() -> None:
    """Llama 3.1 405B on a one-GPU L4 pool: no GPU count, accelerator, quantisation or
    context makes 189 GiB of int4 weights fit one GPU."""
    from compiler.llm.planning import fit_on

    llm = _llm(family="llama-3.1-405b")
    fit = fit_on(llm, "nvidia-l4", 1)
    assert fit is not None and not fit.fits and not fit.starts
    assert remedies(llm, fit, "nvidia-l4", 1, 1, "gcp") == []
