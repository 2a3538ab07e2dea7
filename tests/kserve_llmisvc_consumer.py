"""What KServe's LLMInferenceService controller and KEDA do with an LLMInferenceService and
an InferenceService autoscaled by KEDA, re-implemented from their source so that the tests
judge the rendered objects by the consumer's rules.

Pins: kserve/kserve master @ aaac4e294dae (the CRD in tests/upstream; pkg/controller/v1alpha2/
llmisvc, config/llmisvcconfig), kserve v0.20.0 for the InferenceService's KEDA reconciler,
kedacore/keda v2.20.2, Kubernetes' HPA (pkg/controller/podautoscaler).
"""

from __future__ import annotations

import copy
import math
import re
from functools import cache
from typing import Any

from ruamel.yaml import YAML

from tests.conftest import UPSTREAM
from tests.kserve_consumer import strategic_merge

KUEUE_PREFIX = "kueue.x-k8s.io"
# corev1.PodSpec list fields with patchStrategy merge and their patchMergeKey (k8s.io/api
# core/v1 types.go); tolerations, args and the rest replace
_POD_MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name"}


@cache
def preset() -> dict[str, Any]:
    """kserve-config-llm-template: the well-known config of a single-node workload
    (config_merge.go combineBaseRefsConfig: no worker, no prefill)."""
    path = UPSTREAM / "kserve" / "llmisvcconfig" / "config-llm-template.yaml"
    doc: dict[str, Any] = YAML(typ="safe", pure=True).load(path.read_text())
    return doc


def _merge_list(base: list[Any], patch: list[Any], key: str) -> list[Any]:
    out = [copy.deepcopy(item) for item in base]
    for item in patch:
        found = next((i for i, b in enumerate(out) if b.get(key) == item.get(key)), None)
        if found is None:
            out.append(copy.deepcopy(item))
        else:
            out[found] = strategic_merge(out[found], item)
    return out


def merge_pod_spec(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """strategicpatch on a corev1.PodSpec (config_merge.go mergeSpecs): containers and
    volumes merge by name, each container key by key (tests/kserve_consumer.strategic_merge)."""
    out = copy.deepcopy(base)
    for field, value in patch.items():
        if field in _POD_MERGE_KEYS and field in out:
            out[field] = _merge_list(out[field], value, _POD_MERGE_KEYS[field])
        elif isinstance(value, dict) and isinstance(out.get(field), dict):
            out[field] = strategic_merge(out[field], value)
        else:
            out[field] = copy.deepcopy(value)
    return out


def merged_template(llmisvc: dict[str, Any]) -> dict[str, Any]:
    """The pod template the controller deploys: the preset's, this spec's merged over it."""
    return merge_pod_spec(preset()["spec"]["template"], llmisvc["spec"].get("template", {}))


def main_container(llmisvc: dict[str, Any]) -> dict[str, Any]:
    (main,) = [c for c in merged_template(llmisvc)["containers"] if c["name"] == "main"]
    return dict(main)


def vllm_flags(llmisvc: dict[str, Any]) -> list[str]:
    """The flags `vllm serve` gets that this spec decides: the preset's script runs
    `exec vllm serve /mnt/models --served-model-name <spec.model.name> ... [--tensor-parallel-size
    <spec.parallelism.tensor>] ... $@`, and `--` ends bash's options so that the container's
    args are `$@`. Refuses a preset whose script no longer has that shape."""
    main = main_container(llmisvc)
    command = main["command"]
    script = command[2]
    assert command[:2] == ["/bin/bash", "-c"] and command[-1] == "--", command
    assert re.search(r'--served-model-name "\{\{ \.Spec\.Model\.Name \}\}"', script)
    guarded = (
        r"\{\{- if and \.Spec\.Parallelism \.Spec\.Parallelism\.Tensor \}\} "
        r"--tensor-parallel-size \{\{ \.Spec\.Parallelism\.Tensor \}\}\{\{- end \}\}"
    )
    assert re.search(guarded, script) and script.rstrip().endswith('$@"'), script
    spec = llmisvc["spec"]
    flags = [f"--served-model-name={spec['model']['name']}"]
    tensor = (spec.get("parallelism") or {}).get("tensor")
    if tensor:
        flags.append(f"--tensor-parallel-size={tensor}")
    return flags + list(main.get("args", []))


def deployment(llmisvc: dict[str, Any]) -> dict[str, Any]:
    """workload_single_node.go expectedSingleNodeMainDeployment: <name>-kserve, replicas
    spec.replicas, the merged template, and the kueue.x-k8s.io labels copied to it and to its
    pods (propagateDeploymentMetadata)."""
    meta = llmisvc["metadata"]
    name = meta["name"]
    labels = {
        "app.kubernetes.io/component": "llminferenceservice-workload",
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": "llminferenceservice",
    }
    kueue = {k: v for k, v in meta.get("labels", {}).items() if k.startswith(KUEUE_PREFIX)}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": dict(labels)},
        "template": {
            "metadata": {"labels": labels | kueue},
            "spec": merged_template(llmisvc),
        },
    }
    if "replicas" in llmisvc["spec"]:
        spec["replicas"] = llmisvc["spec"]["replicas"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{name}-kserve", "namespace": meta["namespace"]}
        | {"labels": labels | kueue},
        "spec": spec,
    }


def cel_problems(llmisvc: dict[str, Any]) -> list[str]:
    """The CRD's CEL rules on what modelkiln writes (WorkloadSpec, ScalingSpec)."""
    spec = llmisvc["spec"]
    scaling = spec.get("scaling")
    out = []
    if "replicas" in spec and scaling is not None:
        out.append("replicas and scaling are mutually exclusive")
    if scaling is not None:
        if ("wva" in scaling) == ("keda" in scaling):
            out.append("exactly one of wva or keda")
        if "keda" in scaling and not scaling["keda"].get("triggers"):
            out.append("at least one trigger is required when using direct KEDA scaling")
        if scaling.get("minReplicas", 1) > scaling["maxReplicas"]:
            out.append("minReplicas cannot exceed maxReplicas")
    return out


def llmisvc_scaled_object(llmisvc: dict[str, Any]) -> dict[str, Any]:
    """scaling.go expectedDirectScaledObject: <name>-kserve-keda on the main Deployment,
    minReplicaCount defaulting to 1, the triggers as written."""
    meta = llmisvc["metadata"]
    scaling = llmisvc["spec"]["scaling"]
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": f"{meta['name']}-kserve-keda", "namespace": meta["namespace"]},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": f"{meta['name']}-kserve",
            },
            "minReplicaCount": scaling.get("minReplicas", 1),
            "maxReplicaCount": scaling["maxReplicas"],
            "triggers": copy.deepcopy(scaling["keda"]["triggers"]),
        },
    }


def isvc_scaled_object(isvc: dict[str, Any]) -> dict[str, Any]:
    """kserve v0.20.0 reconcilers/keda/keda_reconciler.go createKedaScaledObject and
    getKedaMetrics: one trigger per External metric, type = the backend, metadata
    serverAddress, query, threshold = target.value as written; no metricType (KEDA's
    default, AverageValue); named as the predictor's Deployment, <isvc>-predictor."""
    meta = isvc["metadata"]
    predictor = isvc["spec"]["predictor"]
    triggers = []
    for metric in predictor["autoScaling"]["metrics"]:
        external = metric["external"]
        triggers.append(
            {
                "type": external["metric"]["backend"],
                "metadata": {
                    "serverAddress": external["metric"]["serverAddress"],
                    "query": external["metric"]["query"],
                    "threshold": str(external["target"].get("value", "0")),
                },
            }
        )
    low = predictor.get("minReplicas", 1)
    name = f"{meta['name']}-predictor"
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": meta["namespace"]},
        "spec": {
            "scaleTargetRef": {"name": name},
            "minReplicaCount": low,
            "maxReplicaCount": max(predictor.get("maxReplicas", 0), low),
            "triggers": triggers,
        },
    }


def desired_replicas(scaled_object: dict[str, Any], values: list[float]) -> int:
    """The HPA KEDA creates: per trigger with AverageValue (KEDA's default metric type),
    ceil(query result / threshold) (replica_calculator.go GetExternalPerPodMetricReplicas);
    the largest proposal over the metrics wins (horizontal.go computeReplicasForMetrics),
    clamped to min/max. values: the query results, in the triggers' order."""
    spec = scaled_object["spec"]
    proposals = []
    for trigger, value in zip(spec["triggers"], values, strict=True):
        assert trigger.get("metricType", "AverageValue") == "AverageValue"
        threshold = float(trigger["metadata"]["threshold"])
        proposals.append(math.ceil(value / threshold))
    return int(max(spec["minReplicaCount"], min(spec["maxReplicaCount"], max(proposals))))
