"""KServe deployment modes, autoscalers and Standard-mode canaries, derived once for the plan
and for validation (docs/serving.md).

KServe v0.20.0 facts this encodes (pkg/constants/constants.go, pkg/apis/serving/v1beta1/
inference_service_validation.go, components/predictor.go):

- the mode is the annotation serving.kserve.io/deploymentMode, Standard or Knative; the stock
  inferenceservice-config defaults to Serverless (= Knative), so it is always written;
- in Standard mode a canary is an entry of spec.canary, with its own Deployment named
  <isvc>-<name>-predictor and fixed replicas; spec.predictor serves the stable version;
- in Knative mode a canary is predictor.canaryTrafficPercent between revisions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from compiler.llm import capacity_tokens_per_second, peak_tokens_per_second
from compiler.slo import Replicas, canary_replicas, replicas
from compiler.spec.model import ModelSpec, Serving
from compiler.spec.project import Environment

MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
AUTOSCALER_ANNOTATION = "serving.kserve.io/autoscalerClass"
MODE_VALUES = {"standard": "Standard", "knative": "Knative"}
CANARY_NAME = "canary"  # spec.canary[0].predictor.name: Deployment <isvc>-canary-predictor
DEFAULT_REGISTRY = "pvc://models"


@dataclass(frozen=True)
class DeploymentPlan:
    mode: str  # standard | knative
    prometheus: str | None  # Standard mode: the server KEDA queries

    @property
    def autoscaler(self) -> str:
        """knative (Knative's KPA), keda (request rate from Prometheus) or hpa (CPU)."""
        if self.mode == "knative":
            return "knative"
        return "keda" if self.prometheus else "hpa"


@dataclass(frozen=True)
class CanaryPlan:
    """A Standard-mode canary: the new version beside the stable one."""

    version: str  # the new version, served by the canary
    stable_version: str  # served by spec.predictor
    storage_uri: str  # the new version's artifact
    percent: int
    replicas: int  # fixed: carries percent of throughputRps at the per-replica target


STANDARD_ON_CPU = DeploymentPlan("standard", None)  # KServe's default mode and autoscaler


def deployment_plan(env: Environment) -> DeploymentPlan:
    s = env.serving
    return DeploymentPlan(s.mode, s.prometheus)


def storage_uri(spec: ModelSpec, registry: str | None, name: str) -> str:
    """Where the model's artifact lives: explicit, else <registry>/<model>/<version>."""
    if spec.serving is not None and spec.serving.llm is not None:
        return spec.serving.llm.source
    if spec.serving is not None and spec.serving.storage_uri:
        return spec.serving.storage_uri
    return artifact_uri(registry, name, spec.version)


def artifact_uri(registry: str | None, model: str, version: str) -> str:
    """<registry>/<model>/<version>; the default registry is a PersistentVolumeClaim."""
    return f"{(registry or DEFAULT_REGISTRY).rstrip('/')}/{model}/{version}"


def canary_percent(serving: Serving) -> int | None:
    rollout = serving.rollout
    if rollout.strategy != "canary":
        return None
    return rollout.canary_percent if rollout.canary_percent is not None else 10


def running_canary_percent(spec: ModelSpec) -> int | None:
    """canaryPercent while a canary runs; None once stableVersion equals version (promoted).

    In knative mode this is canaryTrafficPercent: KServe v0.20.0 (pkg/controller/v1beta1/
    inferenceservice/reconcilers/knative/ksvc_reconciler.go) sends it to the latest revision
    and the rest to the last rolled-out one; without it the latest revision gets 100 %. So a
    promoted version gets all traffic, and a rollback to the stable version's artifact (a
    new revision) gets all of it at once. Without stableVersion every new revision starts
    as a canary.
    """
    serving = spec.serving
    if serving is None:
        return None
    stable = serving.rollout.stable_version
    return canary_percent(serving) if stable is None or stable != spec.version else None


def renders_standard_canary(spec: ModelSpec, mode: str) -> bool:
    """True when the InferenceService gets a spec.canary: Standard mode, a canary rollout and
    a stable version other than the one being rolled out."""
    serving = spec.serving
    if serving is None or mode != "standard" or canary_percent(serving) is None:
        return False
    stable = serving.rollout.stable_version
    return stable is not None and stable != spec.version


def stable_storage_uri(spec: ModelSpec, registry: str | None, model: str) -> str | None:
    """The stable version's artifact: explicit, else derived like the current one; None when
    it cannot be derived (an explicit serving.storageUri; validation refuses that, MK234)."""
    serving = spec.serving
    assert serving is not None
    rollout = serving.rollout
    if rollout.stable_storage_uri:
        return rollout.stable_storage_uri
    if serving.storage_uri or rollout.stable_version is None:
        return None
    return artifact_uri(registry, model, rollout.stable_version)


@dataclass(frozen=True)
class ServingRollout:
    deployment: DeploymentPlan
    replicas: Replicas  # of spec.predictor (the stable version in a Standard canary)
    stable_storage_uri: str  # what spec.predictor serves
    canary: CanaryPlan | None


def load(serving: Serving) -> tuple[float, float, float]:
    """(peak, one replica's capacity, availability): requests/s, or output tokens/s for a
    language model (compiler/llm)."""
    if serving.llm is not None:
        llm = serving.llm
        peak = peak_tokens_per_second(llm)
        return (peak, capacity_tokens_per_second(llm), llm.slo.availability)
    assert serving.slo is not None and serving.capacity_rps is not None  # Serving checks
    return (serving.slo.throughput_rps, serving.capacity_rps, serving.slo.availability)


def serving_replicas(spec: ModelSpec) -> Replicas:
    serving = spec.serving
    assert serving is not None
    scaling = serving.autoscaling
    given = (scaling.min_replicas, scaling.max_replicas) if scaling else None
    return replicas(*load(serving), given)


def canary_plan(spec: ModelSpec, storage_uri: str, scale: Replicas) -> CanaryPlan:
    """The canary of a Standard-mode rollout, sized to carry its share of the peak at the
    per-replica target (KServe gives a canary fixed replicas, no autoscaler), but never more
    than the stable maxReplicas."""
    assert spec.serving is not None
    percent = canary_percent(spec.serving)
    stable = spec.serving.rollout.stable_version
    assert percent is not None and stable is not None
    pods = canary_replicas(load(spec.serving)[0], scale.scale_target_rps, percent)
    return CanaryPlan(spec.version, stable, storage_uri, percent, min(pods, scale.max))


def serving_rollout(
    spec: ModelSpec, env: Environment, registry: str | None, model: str, storage_uri: str
) -> ServingRollout:
    deployment = deployment_plan(env)
    scale = serving_replicas(spec)
    if not renders_standard_canary(spec, deployment.mode):
        return ServingRollout(deployment, scale, storage_uri, None)
    canary = canary_plan(spec, storage_uri, scale)
    stable_uri = stable_storage_uri(spec, registry, model) or storage_uri
    if canary.replicas > scale.min:
        # KServe (components/predictor.go) takes the canary's replicas out of the stable
        # minReplicas (at least 1 stays) and its webhook refuses a canary minReplicas above
        # the stable one: the stable minimum covers both (canary.replicas ≤ maxReplicas).
        scale = replace(scale, min=canary.replicas)
    return ServingRollout(deployment, scale, stable_uri, canary)
