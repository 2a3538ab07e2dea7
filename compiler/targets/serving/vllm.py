"""What both LLM renderings share: vLLM's engine flags from serving.llm, and the KEDA
Prometheus triggers on vLLM's queue depth and KV-cache use (docs/llm.md, "## Rendering",
"## Autoscaling").

Flags are vLLM's own (`vllm serve` / AsyncEngineArgs, dashed as KServe's samples write them,
kserve v0.20.0 docs/samples/fluid/kserve-isvc.yaml). The Hugging Face server passes every
flag it does not own to vLLM: with the vLLM backend it adds vLLM's parser to its own
(kserve v0.20.0 python/huggingfaceserver/huggingfaceserver/__main__.py,
vllm/utils.py maybe_add_vllm_cli_parser = vllm make_arg_parser) and builds the engine from
the parsed namespace (AsyncEngineArgs.from_cli_args). The LLMInferenceService template runs
`vllm serve /mnt/models ... $@` with the container's args as `$@` (kserve master aaac4e29
config/llmisvcconfig/config-llm-template.yaml).
"""

from __future__ import annotations

from typing import Any

from compiler.llm import LlmPlan
from compiler.llm.scaling import kv_cache_target, waiting_target
from compiler.plan import ServingPlan

# dtype → vLLM flags. fp16/bf16: the weights' type. fp8: vLLM's fp8 quantisation (online
# from a 16-bit checkpoint, or the checkpoint's own fp8). int8/int4: a pre-quantised
# checkpoint (GPTQ, AWQ, W8A8); vLLM reads its quantization_config from config.json, and a
# --quantization flag that disagrees with it is an error, so none is written.
DTYPE_FLAGS: dict[str, tuple[str, ...]] = {
    "fp16": ("--dtype=float16",),
    "bf16": ("--dtype=bfloat16",),
    "fp8": ("--quantization=fp8",),
    "int8": (),
    "int4": (),
}
TRIGGER_TYPE = "prometheus"  # KEDA's Prometheus scaler (keda v2.20.2 pkg/scalers)


def engine_args(llm: LlmPlan, *, tensor_parallel: bool = True) -> list[str]:
    """vLLM's engine flags for serving.llm; tensor_parallel=False where the caller sets the
    tensor-parallel size elsewhere (LLMInferenceService spec.parallelism.tensor)."""
    args = []
    if tensor_parallel:
        args.append(f"--tensor-parallel-size={llm.tensor_parallel}")
    args += [
        f"--max-model-len={llm.max_context_tokens}",
        f"--gpu-memory-utilization={llm.gpu_memory_utilization!r}",
        f"--max-num-seqs={llm.concurrent_sequences}",
        *DTYPE_FLAGS[llm.dtype],
    ]
    if llm.kv_cache_dtype != "auto":
        args.append(f"--kv-cache-dtype={llm.kv_cache_dtype}")
    return args


def _per_pod_sum(metric: str, namespace: str, pods: str) -> str:
    return f'sum({metric}{{namespace="{namespace}", pod=~"{pods}"}})'


def scaling_metrics(serving: ServingPlan, namespace: str, pods: str) -> list[dict[str, Any]]:
    """(name, query, threshold) of the two triggers: the queries sum over the workload's
    pods (pods: an anchored regex of their names), and KEDA's default AverageValue divides
    by the replicas, so each threshold is a per-replica target (compiler/llm/scaling.py)."""
    llm = serving.llm
    assert llm is not None
    waiting = waiting_target(
        llm.ttft_p95_ms,
        llm.tpot_p95_ms,
        llm.concurrent_sequences,
        llm.output_tokens_per_request,
    )
    return [
        {
            "name": "queue-depth",
            "query": _per_pod_sum(llm.metrics.waiting, namespace, pods),
            "threshold": f"{waiting:g}",
        },
        {
            "name": "kv-cache",
            "query": _per_pod_sum(llm.metrics.kv_cache, namespace, pods),
            "threshold": f"{kv_cache_target(llm.fit):g}",
        },
    ]


def keda_triggers(serving: ServingPlan, namespace: str, pods: str) -> list[dict[str, Any]]:
    """KEDA ScaleTriggers (keda.sh/v1alpha1) for the Prometheus scaler: metadata is a map of
    strings (serverAddress, query, threshold; pkg/scalers/prometheus_scaler.go)."""
    server = serving.deployment.prometheus
    assert server is not None
    return [
        {
            "type": TRIGGER_TYPE,
            "name": m["name"],
            "metadata": {"serverAddress": server, "query": m["query"], "threshold": m["threshold"]},
        }
        for m in scaling_metrics(serving, namespace, pods)
    ]
