"""What KServe v0.20.0, Knative 1.21.1, KEDA and Kubernetes do with an InferenceService,
re-implemented from their source so that tests judge rendered manifests by the consumer's
rules, not by ours. Each function cites the upstream file it follows.

Pins: kserve/kserve tag v0.20.0 (1fb781055dd1), knative/serving knative-v1.21.1 (69aa052f),
kubernetes/kubernetes (pkg/apis/core), KEDA 2.18 as KServe 0.20 pins it (kserve-deps.env).
"""

from __future__ import annotations

import copy
import math
from decimal import Decimal
from functools import cache
from typing import Any

from kubernetes.utils import parse_quantity
from ruamel.yaml import YAML

from tests.conftest import UPSTREAM

MODE = "serving.kserve.io/deploymentMode"
AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass"
KNATIVE_TU = "autoscaling.knative.dev/target-utilization-percentage"
NATIVE_RESOURCES = ("cpu", "memory", "ephemeral-storage")

# --- the validating webhook -----------------------------------------------------------------


def _replica_problems(ext: dict[str, Any]) -> list[str]:
    """pkg/apis/serving/v1beta1/component.go validateReplicas."""
    low, high = ext.get("minReplicas", 0), ext.get("maxReplicas", 0)
    out = []
    if low < 0 or high < 0:
        out.append("replicas must not be negative")
    if high != 0 and low > high:
        out.append("minReplicas must not exceed maxReplicas")
    return out


def _target_problems(target: dict[str, Any]) -> list[str]:
    """inference_service_validation.go validateScaleTarget."""
    kind = target.get("type")
    if kind == "Utilization":
        util = target.get("averageUtilization")
        if util is None or not 1 <= util <= 100:
            return ["averageUtilization must be 1..100"]
    if kind == "AverageValue" and target.get("averageValue") is None:
        return ["AverageValue needs averageValue"]
    if kind == "Value" and target.get("value") is None:
        return ["Value needs value"]
    return []


def _hpa_problems(ext: dict[str, Any]) -> list[str]:
    """inference_service_validation.go validateScalingHPACompExtension."""
    metric = ext.get("scaleMetric", "cpu")
    if metric not in ("cpu", "memory"):
        return [f"[{metric}] is not a supported metric"]
    target = ext.get("scaleTarget")
    if target is not None and metric == "cpu" and not 1 <= target <= 100:
        return ["the target utilization percentage should be a [1-100] integer"]
    for spec in (ext.get("autoScaling") or {}).get("metrics", []):
        if spec.get("type") != "Resource" or spec.get("resource") is None:
            return ["valid metric source types are Resource"]
    return []


def _keda_problems(ext: dict[str, Any]) -> list[str]:
    """inference_service_validation.go validateScalingKedaCompExtension."""
    if "scaleMetric" in ext:
        return ["ScaleMetric is not supported for KEDA"]
    out: list[str] = []
    for spec in (ext.get("autoScaling") or {}).get("metrics", []):
        kind = spec.get("type")
        if kind == "Resource":
            resource = spec.get("resource") or {}
            if resource.get("name") == "cpu" and resource["target"].get("type") != "Utilization":
                out.append("the cpu target value type should be Utilization")
            out += _target_problems(resource.get("target", {}))
        elif kind == "External":
            external = spec.get("external")
            if external is None or not external["metric"].get("query"):
                out.append("the query should not be empty")
            elif external["target"].get("value") is None:
                out.append("the target threshold value should not be empty")
            else:
                out += _target_problems(external["target"])
        else:
            out.append(f"unknown KEDA metric type {kind}")
    return out


def _kpa_problems(ext: dict[str, Any]) -> list[str]:
    """inference_service_validation.go validateScalingKPACompExtension."""
    metric = ext.get("scaleMetric", "concurrency")
    if "deploymentStrategy" in ext:
        return ["customizing deploymentStrategy is only supported for raw deployment mode"]
    if metric not in ("concurrency", "rps"):
        return [f"[{metric}] is not a supported metric"]
    target = ext.get("scaleTarget")
    if metric == "rps" and target is not None and target < 1:
        return ["the target for rps should be greater than 1"]
    return []


def _canary_problems(isvc: dict[str, Any]) -> list[str]:
    """inference_service_validation.go validateCanarySpecs (lines 183-266)."""
    spec = isvc["spec"]
    canaries = spec.get("canary") or []
    if not canaries:
        return []
    if isvc["metadata"].get("annotations", {}).get(MODE) != "Standard":
        return ["canary is only supported in Standard deployment mode"]
    stable = spec["predictor"]
    if "model" not in stable:
        return ["canary requires a stable predictor with a model"]
    names: set[str] = set()
    total = 0
    out = []
    for canary in canaries:
        predictor = canary["predictor"]
        name = predictor.get("name", "")
        if not name or name in names or name == stable.get("name", ""):
            out.append(f"canary predictor.name {name!r} is missing, duplicated or the stable's")
        names.add(name)
        if not 0 <= canary["trafficPercent"] <= 100:
            out.append("trafficPercent must be between 0 and 100")
        total += canary["trafficPercent"]
        for field in ("maxReplicas", "scaleTarget", "scaleMetric", "autoScaling", "workerSpec"):
            if predictor.get(field):
                out.append(f"canary must not set {field} (canary uses fixed replicas)")
        if "minReplicas" in predictor and predictor["minReplicas"] > stable.get("minReplicas", 1):
            out.append("canary minReplicas must not exceed stable predictor minReplicas")
    if total > 100:
        out.append("sum of canary trafficPercent values must be <= 100")
    return out


def webhook_problems(isvc: dict[str, Any]) -> list[str]:
    """What KServe's admission webhook (and Knative's annotation check) refuses."""
    annotations = isvc["metadata"].get("annotations", {})
    predictor = isvc["spec"]["predictor"]
    out: list[str] = []
    klass = annotations.get(AUTOSCALER_CLASS)
    if klass is not None and klass not in ("hpa", "external", "keda", "none"):
        out.append(f"[{klass}] is not a supported autoscaler class type")
    out += _replica_problems(predictor)
    if annotations.get(MODE) == "Standard":  # validateAutoScalingCompExtension
        if klass == "hpa":
            out += _hpa_problems(predictor)
        elif klass == "keda":
            out += _keda_problems(predictor)
    else:
        out += _kpa_problems(predictor)
    # knative/serving pkg/apis/autoscaling/annotation_validation.go: TU in [1, 100]
    for where in (annotations, predictor.get("annotations", {})):
        if KNATIVE_TU in where and not 1 <= float(where[KNATIVE_TU]) <= 100:
            out.append("target-utilization-percentage must be in [1, 100]")
    return out + _canary_problems(isvc)


# --- the autoscalers' arithmetic ---------------------------------------------------------------


def per_pod_target(isvc: dict[str, Any], capacity_rps: float) -> float:
    """Requests per second per pod at which the autoscaler holds steady.

    - Knative (pkg/reconciler/autoscaling/resources/target.go ResolveMetricTarget): the
      rps target × the target utilisation, from the revision annotation, else 0.7 for rps
      (pkg/autoscaler/config/config.go defaultTargetUtilization), at least 0.01 (TargetMin).
    - KEDA: KServe passes only target.value as the Prometheus trigger's threshold
      (keda_reconciler.go getKedaMetrics) and KEDA's default metric type is AverageValue,
      so the HPA it creates holds query result / pods at the threshold.
    - HPA on CPU utilisation (replica_calculator.go): holds the pods' average utilisation
      at the target; modelkiln's model of a pod's CPU: 100 % of its request at capacityRps,
      linear below, so the target in rps is capacityRps × averageUtilization / 100.
    """
    annotations = isvc["metadata"].get("annotations", {})
    predictor = isvc["spec"]["predictor"]
    if annotations.get(MODE) == "Knative":
        tu = float(predictor.get("annotations", {}).get(KNATIVE_TU, 70)) / 100
        return float(max(0.01, predictor["scaleTarget"] * tu))
    (metric,) = predictor["autoScaling"]["metrics"]
    if metric["type"] == "External":
        return float(metric["external"]["target"]["value"])
    return capacity_rps * float(metric["resource"]["target"]["averageUtilization"]) / 100


def desired_replicas(isvc: dict[str, Any], total_rps: float, capacity_rps: float) -> int:
    """Pods the autoscaler asks for at a steady total_rps, before min/max clamping: Knative's
    ceil(observed / target) (pkg/autoscaler/scaling/autoscaler.go Scale) and the HPA's
    ceil(metric / target per pod) (GetExternalPerPodMetricReplicas, and the same ratio for
    resource utilisation)."""
    return math.ceil(total_rps / per_pod_target(isvc, capacity_rps))


def replica_bounds(isvc: dict[str, Any]) -> tuple[int, int]:
    """(min, max) the autoscaler clamps to: Knative min-scale defaults to 1 when minReplicas
    is nil (SetAutoScalingAnnotations); KEDA max = max(maxReplicas, minReplicas); the HPA
    raises minReplicas < 1 to 1 (hpa_reconciler.go)."""
    predictor = isvc["spec"]["predictor"]
    low = predictor.get("minReplicas", 1)
    high = predictor.get("maxReplicas", 0)
    return low, max(high, low)


# --- ServingRuntime selection and the container merge ---------------------------------------------


@cache
def runtimes() -> dict[str, dict[str, Any]]:
    """The vendored v0.20.0 ClusterServingRuntimes by name."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((UPSTREAM / "kserve" / "runtimes").glob("*.yaml")):
        doc = YAML(typ="safe", pure=True).load(path.read_text())
        out[doc["metadata"]["name"]] = doc
    return out


_PROTOCOL_RANK = {"v1": 1, "v2": 2, "grpc-v1": 3, "grpc-v2": 4}  # constants.GetProtocolVersionInt


def runtime_for(model: dict[str, Any]) -> dict[str, Any]:
    """The runtime a predictor.model names, else the one KServe picks for its modelFormat:
    predictor_model.go GetSupportingRuntimes (autoSelect formats, protocol v1 when none is
    given, not multi-model, not multi-node), cluster runtimes sorted by protocol then name
    (all created together), then by priority, highest first (sortSupportedRuntimeByPriority;
    a runtime without a priority after those with one)."""
    if "runtime" in model:
        return runtimes()[model["runtime"]]
    fmt = model["modelFormat"]["name"]
    candidates = []
    for name, doc in runtimes().items():
        spec = doc["spec"]
        formats = [f for f in spec["supportedModelFormats"] if f.get("autoSelect")]
        protocols = spec.get("protocolVersions") or []
        if (
            any(f["name"] == fmt for f in formats)
            and (not protocols or "v1" in protocols)
            and not spec.get("multiModel")
            and "workerSpec" not in spec
            and not spec.get("disabled")
        ):
            rank = min((_PROTOCOL_RANK.get(p, 0) for p in protocols), default=0)
            priority = next(
                f.get("priority") for f in spec["supportedModelFormats"] if f["name"] == fmt
            )
            candidates.append((rank, name, priority, doc))
    candidates.sort(key=lambda c: (c[0], c[1]))
    candidates.sort(key=lambda c: (c[2] is None, -(c[2] or 0)))  # stable, like the Go order
    assert candidates, f"no ServingRuntime serves modelFormat {fmt}"
    return candidates[0][3]


# corev1.Container list fields with patchStrategy merge and their patchMergeKey
_MERGE_KEYS = {
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
}


def strategic_merge(base: Any, patch: Any, field: str = "") -> Any:
    """k8s.io/apimachinery strategicpatch.StrategicMergePatch on a corev1.Container: maps
    merge key by key, lists with a merge key merge by it, other lists and scalars replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = strategic_merge(base[key], value, key) if key in base else value
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in _MERGE_KEYS:
        key = _MERGE_KEYS[field]
        out_list = [copy.deepcopy(item) for item in base]
        for item in patch:
            match = next((i for i, b in enumerate(out_list) if b.get(key) == item.get(key)), None)
            if match is None:
                out_list.append(item)
            else:
                out_list[match] = strategic_merge(out_list[match], item)
        return out_list
    return copy.deepcopy(patch)


# predictor.model fields that are ModelSpec's own, not the embedded corev1.Container's
_MODEL_ONLY = ("modelFormat", "runtime", "storageUri", "protocolVersion", "storage")


def merged_container(model: dict[str, Any]) -> dict[str, Any]:
    """utils.go MergeRuntimeContainers: the runtime's kserve-container as base, the
    predictor's container as a strategic merge patch, args concatenated runtime-first."""
    runtime = runtime_for(model)
    (base,) = [c for c in runtime["spec"]["containers"] if c["name"] == "kserve-container"]
    overlay = {k: v for k, v in model.items() if k not in _MODEL_ONLY}
    merged = strategic_merge(base, overlay)
    merged["args"] = [*base.get("args", []), *overlay.get("args", [])]
    if not merged["args"]:
        del merged["args"]
    return dict(merged)


def mergo_override(stable: Any, canary: Any) -> Any:
    """components/predictor.go buildCanaryPredictor: mergo.Merge(&copy of stable, canary,
    mergo.WithOverride): the canary's non-empty values win, structs merge field by field."""
    if isinstance(stable, dict) and isinstance(canary, dict):
        out = dict(stable)
        for key, value in canary.items():
            out[key] = mergo_override(stable[key], value) if key in stable else value
        return out
    return copy.deepcopy(canary) if canary not in (None, "", [], {}) else copy.deepcopy(stable)


def admission_problems(container: dict[str, Any]) -> list[str]:
    """What the API server refuses in a pod's container resources: requests default to limits
    (pkg/apis/core/v1/defaults.go SetDefaults_Pod), then validateResourceRequirements
    (pkg/apis/core/validation/validation.go): request ≤ limit, and for an extended resource
    such as nvidia.com/gpu, request = limit."""
    resources = container.get("resources") or {}
    limits = {
        k: Decimal(parse_quantity(str(v))) for k, v in (resources.get("limits") or {}).items()
    }
    requests = {
        k: Decimal(parse_quantity(str(v))) for k, v in (resources.get("requests") or {}).items()
    }
    for key, value in limits.items():
        requests.setdefault(key, value)
    out = []
    for key, request in sorted(requests.items()):
        limit = limits.get(key)
        if limit is None:
            continue
        if request > limit:
            out.append(f"{key} request {request} must be less than or equal to {key} limit {limit}")
        if key not in NATIVE_RESOURCES and request != limit:
            out.append(f"{key} request must equal its limit (extended resource)")
    return out
