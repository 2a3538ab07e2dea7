"""Deployment modes, autoscaling targets and rollouts (docs/serving.md).

Single-Model rules run on every base and overridden spec; the environment rules see each
Model as it is in an environment, whose `serving.mode` decides what KServe can do (they
report through ModelView.at, so they are VIEW_RULES too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from compiler.deployment import canary_percent
from compiler.diagnostics import Diagnostic
from compiler.slo import MIN_CAPACITY_RPS, SAFE_UTILISATION, scale_target
from compiler.spec.model import ModelSpec
from compiler.validate.context import At, ModelView, Specs


def rps_target(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    serving = spec.serving
    if serving is None or serving.capacity_rps is None or scale_target(serving.capacity_rps) >= 1:
        return
    yield at(
        ("serving", "capacityRps"),
        "MK232",
        f"capacityRps {serving.capacity_rps:g} gives a per-replica target of "
        f"floor({serving.capacity_rps:g} × {SAFE_UTILISATION:g}) = 0 requests per second; "
        "KServe refuses an rps target below 1",
        f"capacityRps must be at least {MIN_CAPACITY_RPS:.2f} (70 % of it at least 1 rps)",
        False,
    )


def stable_artifact(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    serving = spec.serving
    if serving is None:
        return
    rollout = serving.rollout
    if rollout.stable_storage_uri is not None and rollout.stable_version is None:
        yield at(
            ("serving", "rollout", "stableStorageUri"),
            "MK233",
            "stableStorageUri is set but stableVersion is not",
            "add stableVersion: the version whose artifact stableStorageUri is",
            True,
        )
    stable = rollout.stable_version
    needs_uri = (
        canary_percent(serving) is not None
        and stable is not None
        and stable != spec.version
        and serving.storage_uri is not None
        and rollout.stable_storage_uri is None
    )
    if needs_uri:
        yield at(
            ("serving", "rollout", "stableVersion"),
            "MK234",
            f"the artifact of stable version {stable} cannot be derived: serving.storageUri "
            "is given explicitly",
            f"add rollout.stableStorageUri: the artifact URI of version {stable}",
            False,
        )


def _in_standard_mode(specs: Specs, failing: Callable[[ModelView], bool]) -> Iterator[ModelView]:
    for view in specs.views:
        if view.env.serving.mode == "standard" and failing(view):
            yield view


def _canary_without_stable(view: ModelView) -> bool:
    serving = view.spec.serving
    return (
        serving is not None
        and canary_percent(serving) is not None
        and serving.rollout.stable_version is None
    )


def canary_stable_version(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    for view in _in_standard_mode(specs, _canary_without_stable):
        yield view.at(
            ("serving", "rollout"),
            "MK320",
            f"environment '{view.env.name}' is in standard mode, where a canary needs "
            "rollout.stableVersion: spec.predictor serves the stable version and "
            "spec.canary the new one",
            f"add stableVersion: <the version serving now> (set it to {view.spec.version} to "
            "promote), or set serving.mode: knative for the environment in modelkiln.yaml",
            key=True,
        )


def _scales_to_zero(view: ModelView) -> bool:
    serving = view.spec.serving
    scaling = serving.autoscaling if serving else None
    return scaling is not None and scaling.min_replicas == 0


def scale_to_zero(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    for view in _in_standard_mode(specs, _scales_to_zero):
        yield view.at(
            ("serving", "autoscaling", "minReplicas"),
            "MK321",
            f"environment '{view.env.name}' is in standard mode, where minReplicas 0 cannot "
            "scale to zero: the HPA keeps 1 replica, and with KEDA no pod would count the "
            "requests that should wake the model",
            "set minReplicas to 1 or more, or serving.mode: knative for the environment in "
            "modelkiln.yaml",
        )
