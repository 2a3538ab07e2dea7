"""The Project's policies (all optional); a violation is an error."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.costs import PoolCost, pool_cost
from compiler.diagnostics import Diagnostic, enumerate_names, quote
from compiler.validate.context import Specs


def max_gpus_per_model(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    limit = specs.project.obj.spec.policies.max_gpus_per_model if specs.project else None
    if limit is None:
        return
    for _entry, spec, at in specs.model_specs():
        training = spec.training
        if training is None:
            continue
        per_node = specs.gpus_of(training.resources)
        total = per_node * training.resources.nodes
        if total > limit:
            path = ("training", "resources", "gpus" if training.resources.gpus else "nodes")
            yield at(
                path,
                "MK401",
                f"training uses {per_node} GPUs × {training.resources.nodes} node(s) = {total} "
                f"GPUs; policies.maxGpusPerModel is {limit}",
                "lower gpus or nodes, or raise the policy in modelkiln.yaml",
                False,
            )


def require_canary(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    envs = set(specs.project.obj.spec.policies.require_canary_in) if specs.project else set()
    for view in specs.views:
        serving = view.spec.serving
        if view.env.name in envs and serving is not None and serving.rollout.strategy != "canary":
            has_strategy = "strategy" in (
                view.entry.doc.data.get("spec", {}).get("serving", {}).get("rollout") or {}
            )
            path = ("serving", "rollout", "strategy") if has_strategy else ("serving",)
            yield view.at(
                path,
                "MK402",
                f"environment '{view.env.name}' requires a canary rollout "
                "(policies.requireCanaryIn)",
                "set serving.rollout: {strategy: canary, canaryPercent: 10}",
                key=not has_strategy,
            )


def _pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def require_pinned_images(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    if not (specs.project and specs.project.obj.spec.policies.require_pinned_images):
        return
    for _entry, spec, at in specs.model_specs():
        images = []
        if spec.training is not None:
            images.append((("training", "image"), spec.training.image))
        if spec.evaluation is not None and spec.evaluation.image is not None:
            images.append((("evaluation", "image"), spec.evaluation.image))
        for path, image in images:
            if not _pinned(image):
                yield at(
                    path,
                    "MK403",
                    f"image {quote(image)} is not pinned (policies.requirePinnedImages)",
                    "use a digest (…@sha256:…) or a version tag other than 'latest'",
                    False,
                )


def require_pinned_data(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    envs = set(specs.project.obj.spec.policies.require_pinned_data) if specs.project else set()
    for view in specs.views:
        if view.env.name not in envs:
            continue
        for i, ref in enumerate(view.spec.data):
            source = specs.datasources.get(ref.source)
            if ref.version == "latest":
                yield view.at(
                    ("data", i, "version"),
                    "MK405",
                    f"data version 'latest' is refused in environment '{view.env.name}' "
                    "(policies.requirePinnedData)",
                    "pin a snapshot, tag or commit",
                )
            elif ref.version is None and source is not None and source.obj.spec.version == "latest":
                yield source.at(
                    ("spec", "version"),
                    "MK405",
                    f"version 'latest' is refused in environment '{view.env.name}', where Model "
                    f"'{view.name}' uses it (policies.requirePinnedData)",
                    "pin a snapshot, tag or commit here, or in the Model's data[].version",
                )


def environment_costs(specs: Specs, env_name: str) -> list[PoolCost]:
    """The GPU cost range of every pool that exists in the environment (catalog prices)."""
    if specs.project is None:
        return []
    env = next(e for e in specs.project.obj.spec.environments if e.name == env_name)
    overrides = specs.project.obj.spec.gpu_prices
    costs = []
    for pool in specs.pools.values():
        if env_name not in specs.pool_environments(pool):
            continue
        s = pool.obj.spec
        cost = pool_cost(
            pool.name,
            s.accelerator,
            s.gpus_per_node,
            s.min_nodes,
            s.max_nodes,
            env.cloud.provider,
            overrides,
        )
        if cost is not None:
            costs.append(cost)
    return costs


def max_monthly_cost(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    if specs.project is None or specs.project.obj.spec.policies.max_monthly_cost_usd is None:
        return
    limit = specs.project.obj.spec.policies.max_monthly_cost_usd
    for env in specs.environments:
        costs = environment_costs(specs, env.name)
        total = sum(c.monthly_max for c in costs)
        if total > limit:
            largest = sorted(costs, key=lambda c: -c.monthly_max)
            parts = enumerate_names(f"{c.pool} ${c.monthly_max:,.0f}" for c in largest)
            yield specs.project.at(
                ("spec", "policies", "maxMonthlyCostUsd"),
                "MK404",
                f"environment '{env.name}' can cost up to ${total:,.0f}/month with every GPU "
                f"pool at maxNodes, over the limit of ${limit:,.0f} ({parts})",
                "lower maxNodes of the largest pools, or raise policies.maxMonthlyCostUsd",
            )
