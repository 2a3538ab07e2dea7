"""Built-in numbers of common open model families; a Model's serving.llm names one with
`family` and may override parameters and architecture.

Architecture numbers are the reference checkpoint's config.json on the Hugging Face Hub
(num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim or hidden_size /
num_attention_heads, max_position_embeddings); parameter counts are the Hub's safetensors
totals of the same repository. docs/llm.md lists the repositories.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.llm.fit import Architecture


@dataclass(frozen=True)
class Family:
    parameters: int
    architecture: Architecture
    max_context: int  # config.json max_position_embeddings: vLLM's max_model_len limit
    repository: str  # the reference checkpoint on the Hugging Face Hub


def _arch(layers: int, heads: int, kv_heads: int, head_dim: int) -> Architecture:
    return Architecture(layers=layers, kv_heads=kv_heads, head_dim=head_dim, heads=heads)


FAMILIES: dict[str, Family] = {
    # hidden 2048 / 32 heads = head_dim 64
    "llama-3.2-1b": Family(1_235_814_400, _arch(16, 32, 8, 64), 131072, "meta-llama/Llama-3.2-1B"),
    # hidden 3072 / 24 heads = 128
    "llama-3.2-3b": Family(3_212_749_824, _arch(28, 24, 8, 128), 131072, "meta-llama/Llama-3.2-3B"),
    # hidden 4096 / 32 heads = 128
    "llama-3.1-8b": Family(8_030_261_248, _arch(32, 32, 8, 128), 131072, "meta-llama/Llama-3.1-8B"),
    # hidden 8192 / 64 heads = 128
    "llama-3.1-70b": Family(
        70_553_706_496, _arch(80, 64, 8, 128), 131072, "meta-llama/Llama-3.1-70B"
    ),
    # hidden 16384 / 128 heads = 128
    "llama-3.1-405b": Family(
        405_853_388_800, _arch(126, 128, 8, 128), 131072, "meta-llama/Llama-3.1-405B"
    ),
    "mistral-7b": Family(7_248_023_552, _arch(32, 32, 8, 128), 32768, "mistralai/Mistral-7B-v0.3"),
    # every expert's weights stay resident: the whole 46.7 B, not the 12.9 B active per token
    "mixtral-8x7b": Family(
        46_702_792_704, _arch(32, 32, 8, 128), 32768, "mistralai/Mixtral-8x7B-v0.1"
    ),
    # hidden 3584 / 28 heads = 128; 32768 without the YaRN rope scaling Qwen documents
    "qwen2.5-7b": Family(7_615_616_512, _arch(28, 28, 4, 128), 32768, "Qwen/Qwen2.5-7B-Instruct"),
    "qwen2.5-72b": Family(
        72_706_203_648, _arch(80, 64, 8, 128), 32768, "Qwen/Qwen2.5-72B-Instruct"
    ),
    # head_dim 256 (config.json), not hidden 3584 / 16 heads
    "gemma-2-9b": Family(9_241_705_984, _arch(42, 16, 8, 256), 8192, "google/gemma-2-9b"),
    # head_dim 128 (config.json), not hidden 4608 / 32 heads
    "gemma-2-27b": Family(27_227_128_320, _arch(46, 32, 16, 128), 8192, "google/gemma-2-27b"),
}


def family(name: str) -> Family | None:
    return FAMILIES.get(name)
