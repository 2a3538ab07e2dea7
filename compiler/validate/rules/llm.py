"""Language models (serving.llm, docs/llm.md): the numbers the memory model needs, the fields
that do not apply to vLLM, tensor parallelism vLLM accepts, and the GPU fit per environment.

vLLM's own checks these mirror (vllm-project/vllm): ModelConfig.verify_with_parallel_config
("Total number of attention heads (..) must be divisible by tensor parallel size (..)"),
ModelConfig max_model_len against max_position_embeddings, and
kv_cache_utils.check_enough_kv_cache_memory (one max_model_len sequence must fit)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from compiler.diagnostics import Diagnostic, did_you_mean, enumerate_names, quote
from compiler.llm import architecture_of, parameters_of, tensor_parallel
from compiler.llm.families import FAMILIES, family
from compiler.llm.planning import fit_on
from compiler.llm.remedies import remedies
from compiler.spec.llm import Llm
from compiler.spec.model import ModelSpec, Serving
from compiler.validate.context import At, ModelView, Specs

LLM = ("serving", "llm")


def _llm(spec: ModelSpec) -> tuple[Serving, Llm] | None:
    serving = spec.serving
    return (serving, serving.llm) if serving is not None and serving.llm is not None else None


def _replica_gpus(serving: Serving) -> int:
    """GPUs per replica as Specs.gpus_of counts them for serving (1 on a pool by default)."""
    if serving.resources.gpus is not None:
        return serving.resources.gpus
    return 1 if serving.resources.pool is not None else 0


def known_model(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    """MK245: the memory model needs a parameter count and the architecture."""
    found = _llm(spec)
    if found is None:
        return
    llm = found[1]
    if llm.family is not None and family(llm.family) is None:
        yield at(
            (*LLM, "family"),
            "MK245",
            f"unknown model family {quote(llm.family)}",
            did_you_mean(llm.family, FAMILIES)
            or "known: "
            + enumerate_names(sorted(FAMILIES), limit=20)
            + "; or give parameters and architecture",
            False,
        )
        return
    numbers = (("parameters", parameters_of(llm)), ("architecture", architecture_of(llm)))
    missing = [name for name, value in numbers if value is None]
    if missing:
        yield at(
            LLM,
            "MK245",
            f"serving.llm needs {' and '.join(missing)} for the GPU memory check: neither "
            "given nor known from a family",
            "name a family ("
            + enumerate_names(sorted(FAMILIES), limit=20)
            + ") or give "
            + " and ".join(missing)
            + " (architecture: {layers, kvHeads, headDim} from the model's config.json)",
            True,
        )


def not_applicable(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    """MK246: what the request-level serving path reads, but vLLM does not."""
    found = _llm(spec)
    if found is None:
        return
    serving = found[0]
    fields = (
        ("storageUri", serving.storage_uri, "the weights come from llm.source"),
        ("format", serving.format, "vLLM serves every LLM; there is no model format to pick"),
        ("runtime", serving.runtime, "vLLM serves every LLM; there is no runtime to pick"),
    )
    for name, value, why in fields:
        if value is not None:
            yield at(
                ("serving", name),
                "MK246",
                f"serving.{name} does not apply to a language model: {why}",
                f"remove {name}",
                True,
                patch=None,
            )
    rollback = serving.rollout.rollback
    if rollback is not None and rollback.max_latency_p99_ms is not None:
        yield at(
            ("serving", "rollout", "rollback", "maxLatencyP99Ms"),
            "MK246",
            "rollback.maxLatencyP99Ms does not apply to a language model: its latency is "
            "time to first token and time per output token (llm.slo), not request p99",
            "remove maxLatencyP99Ms; maxErrorRate still applies",
            True,
            patch=None,
        )


def on_gpu(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    """MK247: modelkiln serves language models with vLLM on GPUs only."""
    found = _llm(spec)
    if found is None:
        return
    resources = found[0].resources
    if resources.pool is None or (resources.gpus == 0 and resources.mig_profile is None):
        why = "names no pool" if resources.pool is None else "asks for 0 GPUs"
        yield at(
            LLM,
            "MK247",
            f"a language model needs GPUs: vLLM serves it here on a GPU pool only, and "
            f"serving.resources {why}",
            "set serving.resources.pool (and gpus) to a GpuPool",
            True,
        )


def _divisors(heads: int, most: int) -> str:
    return enumerate_names(str(n) for n in range(1, most + 1) if heads % n == 0)


def tensor_parallel_size(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    """MK248: tensorParallel = the replica's GPUs, and the attention heads divide among them."""
    found = _llm(spec)
    if found is None or found[0].resources.pool is None or _replica_gpus(found[0]) == 0:
        return  # MK247
    serving, llm = found
    gpus = _replica_gpus(serving)
    tp = llm.tensor_parallel
    if tp is not None and tp != gpus:
        what = (
            f"more than the replica's {gpus} GPU(s): vLLM cannot place {tp} ranks"
            if tp > gpus
            else f"fewer than the replica's {gpus} GPUs: {gpus - tp} would sit idle, paid for"
        )
        yield at(
            (*LLM, "tensorParallel"),
            "MK248",
            f"tensorParallel {tp} is {what}",
            f"remove tensorParallel (default: the replica's GPUs), or set "
            f"serving.resources.gpus: {tp}",
            False,
            patch=None,
        )
        return
    arch = architecture_of(llm)
    size = tensor_parallel(llm, gpus)
    if arch is not None and arch.heads is not None and arch.heads % size:
        # gpus > 1 was given (the default 1 divides everything), or tensorParallel equal to it
        given = (*LLM, "tensorParallel") if tp is not None else ("serving", "resources", "gpus")
        yield at(
            given,
            "MK248",
            f"{arch.heads} attention heads do not divide among {size} GPUs: vLLM refuses "
            "to start (num_attention_heads must be divisible by the tensor-parallel size)",
            f"use {_divisors(arch.heads, 16)} GPUs per replica",
            False,
        )


def context_length(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    """MK249 (warning): longer than the family's max_position_embeddings, which vLLM refuses
    unless the checkpoint scales its rope (the family's figure is its reference checkpoint's,
    and `source` may be another)."""
    found = _llm(spec)
    if found is None or found[1].family is None:
        return
    llm = found[1]
    known = family(llm.family) if llm.family else None
    if known is not None and llm.max_context_tokens > known.max_context:
        d = at(
            (*LLM, "maxContextTokens"),
            "MK249",
            f"maxContextTokens {llm.max_context_tokens} is above {llm.family}'s "
            f"max_position_embeddings {known.max_context} ({known.repository}): vLLM refuses "
            "a longer --max-model-len unless the checkpoint's config.json scales its rope",
            f"use at most {known.max_context}, or serve a checkpoint with rope scaling",
            False,
            patch=known.max_context,
        )
        yield replace(d, severity="warning")


def fits(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """MK370: one replica's weights, KV cache and overhead fit its GPUs, per environment."""
    for view in specs.views:
        problem = _fit_problem(specs, view)
        if problem is not None:
            yield view.at(LLM, "MK370", *problem, key=True)


def _fit_problem(specs: Specs, view: ModelView) -> tuple[str, str] | None:
    """(message, hint) when the model does not fit in this environment."""
    found = _llm(view.spec)
    pool = specs.pools.get(found[0].resources.pool or "") if found else None
    if found is None or pool is None or view.env.name not in specs.pool_environments(pool):
        return None  # MK247, MK303 and MK308 say why
    serving, llm = found
    gpus, per_node = specs.gpus_of(serving.resources), pool.obj.spec.gpus_per_node
    arch = architecture_of(llm)
    size = tensor_parallel(llm, gpus)
    if gpus > per_node or size != gpus or (arch and arch.heads and arch.heads % size):
        return None  # MK305, MK248
    accelerator = pool.obj.spec.accelerator
    fit = fit_on(llm, accelerator, gpus)
    if fit is None or fit.fits:
        return None
    seqs, ctx = llm.concurrent_sequences, llm.max_context_tokens
    start = (
        "" if fit.starts else f"; vLLM would not even start (one {ctx}-token sequence does not fit)"
    )
    options = remedies(llm, fit, accelerator, gpus, per_node, view.env.cloud.provider)
    message = (
        f"{view.name} does not fit {gpus} × {accelerator}: it needs {fit.needed_gib:.1f} GiB "
        f"(weights {fit.weights_gib:.1f}, KV cache {fit.kv_cache_gib:.1f} for {seqs} "
        f"sequences of {ctx} tokens, overhead {fit.overhead_gib:.1f}) but vLLM may use "
        f"{fit.available_gib:.1f} GiB ({gpus} × {fit.device_gib:.1f} GiB × "
        f"gpuMemoryUtilization {fit.utilization:g}){start}"
    )
    hint = (
        ("it fits with " + "; or ".join(options))
        if options
        else "no GPU count on one node, catalog accelerator, quantisation or shorter "
        "context fits: serve a smaller model"
    )
    return message, hint
