"""The autoscaler targets of a language model (compiler/llm/scaling.py, docs/llm.md
"## Autoscaling"): the arithmetic, and that the targets keep what they promise."""

from __future__ import annotations

import pytest

from compiler.llm.fit import MemoryFit
from compiler.llm.scaling import concurrency_target, kv_cache_target, waiting_target


def _ttft_of_last_waiting(waiting: float, tpot: float, sequences: int, tokens: int) -> float:
    """The first token of a request behind `waiting` others: slots free up at
    sequences / (tokens × tpot) per ms, then one step for its prefill."""
    return waiting * tokens * tpot / sequences + tpot


@pytest.mark.parametrize(
    ("ttft", "tpot", "sequences", "tokens", "want"),
    [
        (1000, 50, 48, 256, 3.56),  # chat-70b: 950 × 48 / (256 × 50) = 3.5625
        (750, 50, 8, 256, 0.43),  # chat-8b: 700 × 8 / 12800 = 0.4375
        (1500, 50, 48, 256, 5.43),  # 1450 × 48 / (256 × 50) = 5.4375
        (800, 40, 8, 256, 0.59),  # 760 × 8 / 10240 = 0.59375
        (2000, 20, 256, 128, 198.0),  # 1980 × 256 / 2560
        (40, 40, 8, 256, 0.01),  # no queue budget at all: the least threshold
    ],
)
def test_waiting_target(ttft: float, tpot: float, sequences: int, tokens: int, want: float) -> None:
    target = waiting_target(ttft, tpot, sequences, tokens)
    assert target == want
    if want > 0.01:  # the largest threshold (in 0.01 steps) that keeps the TTFT objective
        assert _ttft_of_last_waiting(target, tpot, sequences, tokens) <= ttft
        assert _ttft_of_last_waiting(target + 0.01, tpot, sequences, tokens) > ttft


def _fit(kv: float, headroom: float) -> MemoryFit:
    """A fit whose KV cache is kv GiB with headroom GiB spare (80 GiB × 0.9 on one GPU)."""
    weights = 72 - 2 - kv - headroom
    return MemoryFit(weights, kv, 2.0, 80.0, 1, 0.9)


@pytest.mark.parametrize(
    ("kv", "headroom", "want"),
    [
        (20.0, 0.0, 0.70),  # the cache is exactly the design load's: the safe share
        (20.0, 20.0, 0.35),  # twice the room: the design load fills half
        (10.0, 30.0, 0.17),  # 0.7 × 0.25 = 0.175
    ],
)
def test_kv_cache_target(kv: float, headroom: float, want: float) -> None:
    fit = _fit(kv, headroom)
    assert fit.headroom_gib == pytest.approx(headroom)
    assert kv_cache_target(fit) == want


def test_kv_cache_target_without_a_fit_is_the_safe_utilisation() -> None:
    assert kv_cache_target(None) == 0.7


def test_a_fit_that_does_not_fit_keeps_the_safe_share() -> None:
    assert kv_cache_target(_fit(30.0, -5.0)) == 0.7  # validation refuses it; no division


@pytest.mark.parametrize(("sequences", "want"), [(1, 1), (8, 5), (10, 7), (48, 33), (256, 179)])
def test_concurrency_target(sequences: int, want: int) -> None:
    assert concurrency_target(sequences) == want
