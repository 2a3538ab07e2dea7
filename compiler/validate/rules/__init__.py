"""The rules, each small and named after what it checks; each yields diagnostics of its code."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from compiler.diagnostics import Diagnostic
from compiler.spec.model import ModelSpec
from compiler.validate.context import At, Specs
from compiler.validate.rules import (
    drift,
    latency,
    llm,
    model,
    policies,
    quotas,
    references,
    resources,
    rollout,
    serving,
    training,
)

ModelRule = Callable[[ModelSpec, At], Iterable[Diagnostic]]
SpecRule = Callable[[Specs, dict[str, set[str]]], Iterable[Diagnostic]]

MODEL_RULES: list[ModelRule] = [
    model.workload,
    model.serving_storage,
    model.distributed,
    model.canary,
    model.replicas,
    model.gates,
    model.plaintext_secrets,
    model.pool_less_gpus,
    rollout.rps_target,
    rollout.stable_artifact,
    llm.known_model,
    llm.not_applicable,
    llm.on_gpu,
    llm.tensor_parallel_size,
    llm.context_length,
]

SPEC_RULES: list[SpecRule] = [
    references.environment_names,
    references.data_sources,
    references.pools,
    resources.node_range,
    resources.accelerator_offered,
    resources.gpus_per_node,
    training.reserved_env,
    training.torchrun_command,
    training.processes_fit,
    training.cluster_runtime,
    serving.throughput,
    serving.pool_capacity,
    llm.fits,
    rollout.canary_stable_version,
    rollout.scale_to_zero,
    latency.latency_buckets,
    drift.log_url,
    drift.reference,
    drift.columns,
    drift.batching,
    policies.max_gpus_per_model,
    policies.require_canary,
    policies.require_pinned_images,
    policies.require_pinned_data,
    policies.max_monthly_cost,
    quotas.references,
    quotas.overcommit,
    quotas.team_quota,
]

# The rules that report through ModelView.at (they go over specs.views): validation runs them
# once more on the views' base specs, to tell a problem of the base from an override's.
VIEW_RULES: list[SpecRule] = [
    references.pools,
    serving.throughput,
    llm.fits,
    rollout.canary_stable_version,
    rollout.scale_to_zero,
    latency.latency_buckets,
    drift.log_url,
    policies.require_canary,
    policies.require_pinned_data,
]
