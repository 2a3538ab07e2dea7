"""Built-in architecture numbers of common open model families (config.json on the Hugging
Face Hub: num_hidden_layers, num_key_value_heads, head_dim); a Model's serving.llm names one
with `family` and may override any number. Sources per entry in docs/llm.md."""

from __future__ import annotations

from dataclasses import dataclass

from compiler.llm.fit import Architecture


@dataclass(frozen=True)
class Family:
    parameters: int
    architecture: Architecture


FAMILIES: dict[str, Family] = {
    # meta-llama/Llama-3.1-8B: 32 layers, 8 KV heads, head dim 4096/32 = 128
    "llama-3.1-8b": Family(8_030_261_248, Architecture(32, 8, 128)),
    # meta-llama/Llama-3.1-70B: 80 layers, 8 KV heads, head dim 8192/64 = 128
    "llama-3.1-70b": Family(70_553_706_496, Architecture(80, 8, 128)),
}


def family(name: str) -> Family | None:
    return FAMILIES.get(name)
