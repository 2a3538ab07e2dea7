"""What a reviewer of a language model's change needs whatever field changed: per
environment, the GPU memory one replica needs against what vLLM may use (the headroom), and
the cost per million output tokens at the SLO's peak (compiler/llm), base and head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler.plan import ModelPlan


@dataclass(frozen=True)
class LlmFacts:
    needed_gib: float
    usable_gib: float
    devices: int
    device: str  # accelerator (or slice) the replica runs on
    usd_per_million_tokens: float | None
    peak_tokens_per_second: float

    @property
    def headroom_gib(self) -> float:
        return self.usable_gib - self.needed_gib

    def as_dict(self) -> dict[str, Any]:
        cost = self.usd_per_million_tokens
        return {
            "gpu_memory_gib": {
                "needed": round(self.needed_gib, 1),
                "usable": round(self.usable_gib, 1),
                "headroom": round(self.headroom_gib, 1),
            },
            "devices": self.devices,
            "device": self.device,
            "usd_per_million_tokens": round(cost, 2) if cost is not None else None,
            "peak_tokens_per_second": self.peak_tokens_per_second,
        }


Pair = tuple[LlmFacts | None, LlmFacts | None]  # base, head


def llm_facts(model: ModelPlan | None) -> LlmFacts | None:
    serving = model.serving if model else None
    llm = serving.llm if serving else None
    if serving is None or llm is None or llm.fit is None:
        return None
    fit = llm.fit
    device = serving.pool.accelerator if serving.pool else "cpu"
    return LlmFacts(
        needed_gib=fit.needed_gib,
        usable_gib=fit.available_gib,
        devices=fit.devices,
        device=device,
        usd_per_million_tokens=llm.usd_per_million_tokens,
        peak_tokens_per_second=llm.peak_tokens_per_second,
    )


def llm_pair(base: ModelPlan | None, head: ModelPlan | None) -> Pair | None:
    """The facts of both sides, or None when neither side is a language model."""
    pair = (llm_facts(base), llm_facts(head))
    return pair if pair != (None, None) else None


def _gib(value: float) -> str:
    return f"{value:,.1f}"


def memory_text(facts: LlmFacts, ascii_only: bool) -> str:
    times = "x" if ascii_only else "×"
    return (
        f"{_gib(facts.needed_gib)} of {_gib(facts.usable_gib)} GiB on {facts.devices} "
        f"{times} {facts.device}, headroom {_gib(facts.headroom_gib)} GiB"
    )


def cost_text(facts: LlmFacts) -> str:
    cost = facts.usd_per_million_tokens
    money = f"${cost:,.2f}" if cost is not None else "no price"
    return f"{money} per million output tokens at {facts.peak_tokens_per_second:g} tokens/s"


def pair_lines(pair: Pair, ascii_only: bool) -> tuple[str, str]:
    """(memory, cost) of head; a value that moved is shown as base -> head."""
    base, head = pair
    if head is None:
        assert base is not None
        return (f"was {memory_text(base, ascii_only)}", f"was {cost_text(base)}")
    if base is None:
        return memory_text(head, ascii_only), cost_text(head)
    arrow = " -> " if ascii_only else " → "
    same_devices = (base.devices, base.device, base.usable_gib) == (
        head.devices,
        head.device,
        head.usable_gib,
    )
    if not same_devices:
        memory = memory_text(base, ascii_only) + arrow + memory_text(head, ascii_only)
    else:
        times = "x" if ascii_only else "×"
        memory = (
            f"{_moved(_gib(base.needed_gib), _gib(head.needed_gib), arrow)} of "
            f"{_gib(head.usable_gib)} GiB on {head.devices} {times} {head.device}, headroom "
            f"{_moved(_gib(base.headroom_gib), _gib(head.headroom_gib), arrow)} GiB"
        )
    return memory, _moved(cost_text(base), cost_text(head), arrow)


def _moved(old: str, new: str, arrow: str) -> str:
    return new if old == new else old + arrow + new
