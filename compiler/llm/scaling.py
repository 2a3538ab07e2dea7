"""The autoscaler's targets for a language model, derived from its SLO (docs/llm.md,
"## Autoscaling"). Pure arithmetic; the targets render into KEDA Prometheus triggers
(Standard mode) or Knative's concurrency target (Knative mode).

Queue depth (vLLM's num_requests_waiting). One replica runs C = concurrentSequences
sequences at once; a sequence holds its slot for about N = outputTokensPerRequest decode
steps of at most T = tpotP95Ms each, so slots free up at C / (N × T) per ms. A request that
finds W requests waiting ahead of it waits W × N × T / C ms for a slot. Its first token must
come within ttftP95Ms; one decode step of that is the prefill's (at least one forward pass),
so the queue may take the rest:

    waiting per replica  W = (ttftP95Ms − tpotP95Ms) × C / (N × tpotP95Ms)

KEDA's Prometheus trigger with the default AverageValue metric type holds
sum(waiting) / replicas at W (replicas = ceil(sum / W)).

KV-cache use (vLLM's kv_cache_usage_perc, a fraction). vLLM gives the KV cache what is left
of gpuMemoryUtilization × GPU memory after the weights and its overhead (compiler/llm/fit.py:
the memory model's KV cache plus its headroom). At the design load (C sequences at full
context) the cache is kv / (kv + headroom) full; the replicas are sized so that each
carries SAFE_UTILISATION (70 %) of that load, so the target is

    kv target = SAFE_UTILISATION × kv / (kv + headroom)

i.e. scale out when the replicas hold more long-context work than the SLO's share, before
vLLM preempts (recomputes) sequences at 100 %.

Knative mode: the concurrency per pod Knative's autoscaler keeps, with
target-utilization-percentage 100 (the headroom is in the target, not applied twice):
floor(C × SAFE_UTILISATION), at least 1.
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal

from compiler.llm.fit import MemoryFit
from compiler.slo import SAFE_UTILISATION

# KEDA turns a threshold into a resource.Quantity (milli precision); two decimals rounded down
# keep the target on the safe side and readable.
_STEP = Decimal("0.01")


def _floor(value: float) -> float:
    return float(Decimal(repr(value)).quantize(_STEP, rounding=ROUND_FLOOR))


def waiting_target(ttft_ms: float, tpot_ms: float, sequences: int, output_tokens: int) -> float:
    """Waiting requests per replica that keep TTFT within its objective (at least 0.01: a
    TTFT objective of one decode step leaves no queue at all, and any wait scales out)."""
    budget = max(0.0, ttft_ms - tpot_ms)
    return max(0.01, _floor(budget * sequences / (output_tokens * tpot_ms)))


def kv_cache_target(fit: MemoryFit | None) -> float:
    """KV-cache use per replica at its safe share of the design load; without a memory fit
    (CPU nodes) the safe utilisation itself."""
    if fit is None:
        return _floor(SAFE_UTILISATION)
    allocated = fit.kv_cache_gib + max(0.0, fit.headroom_gib)
    share = fit.kv_cache_gib / allocated if allocated > 0 else 1.0
    return max(0.01, _floor(SAFE_UTILISATION * min(1.0, share)))


def concurrency_target(sequences: int) -> int:
    """Knative's per-pod concurrency target (target utilisation 100)."""
    return max(1, math.floor(Decimal(sequences) * Decimal(repr(SAFE_UTILISATION))))
