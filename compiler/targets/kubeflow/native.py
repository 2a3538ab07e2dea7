"""Kubernetes-native KFP (Project `spec.pipelines.store: kubernetes`, KFP >= 2.14 with the
API server's --pipelinesStoreKubernetes): per trained model a `Pipeline` and a
`PipelineVersion` (pipelines.kubeflow.org/v2beta1) that Argo CD applies.

Shaped as the kfp SDK writes them with `kfp dsl compile --kubernetes-manifest-format
--include-pipeline-manifest` (sdk/python/kfp/compiler/pipeline_spec_builder.py,
_write_kubernetes_manifest_to_file, kfp 2.17): the IR PipelineSpec embedded as an object in
spec.pipelineSpec, the PlatformSpec in spec.platformSpec. A PipelineVersion's spec is
immutable except displayName and tags (KFP 2.17.0 backend/src/apiserver/webhook/
pipelineversion_webhook.go ValidateUpdate), so every content gets its own object, named by
the pipeline file's hash; Argo CD must not prune the older ones (recurring runs may still
point at them), hence Prune=false."""

from __future__ import annotations

from typing import Any

import yaml

from compiler.output import sha256
from compiler.plan import EnvironmentPlan, ModelPlan
from compiler.targets import yamlout
from compiler.targets.kubeflow.index import pipeline_name, version_name

API_VERSION = "pipelines.kubeflow.org/v2beta1"
FILE = "kfp-pipeline.yaml"
DEFAULT_NAMESPACE = "kubeflow"  # where a single-user KFP installation looks
NO_PRUNE = {"argocd.argoproj.io/sync-options": "Prune=false"}


def _metadata(name: str, namespace: str, annotations: dict[str, str] | None = None) -> Any:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return meta


def manifests(env: EnvironmentPlan, model: ModelPlan, pipeline_yaml: bytes) -> list[Any]:
    """The Pipeline and PipelineVersion of one model's compiled pipeline file."""
    docs = list(yaml.load_all(pipeline_yaml, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    spec, platform = docs[0], (docs[1] if len(docs) > 1 else None)
    name = pipeline_name(env, model)
    version = version_name(model.version, sha256(pipeline_yaml))
    namespace = env.pipelines.namespace or DEFAULT_NAMESPACE
    description = spec.get("pipelineInfo", {}).get("description")
    pipeline: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Pipeline",
        "metadata": _metadata(name, namespace),
        "spec": {"displayName": name},
    }
    body: dict[str, Any] = {
        "displayName": version,
        "versionName": version,
        "pipelineName": name,
        "pipelineSpec": spec,
    }
    if platform:
        body["platformSpec"] = platform
    if description:
        pipeline["spec"]["description"] = body["description"] = description
    pipeline_version = {
        "apiVersion": API_VERSION,
        "kind": "PipelineVersion",
        "metadata": _metadata(f"{name}-{version}", namespace, NO_PRUNE),
        "spec": body,
    }
    return [pipeline, pipeline_version]


def render(env: EnvironmentPlan, model: ModelPlan, pipeline_yaml: bytes, header: str) -> bytes:
    return yamlout.dump_all(manifests(env, model, pipeline_yaml), header=header)
