"""What Argo CD applies: each environment's folder built by the real `kubectl kustomize`,
as an Application's kustomize source is built, and every object in the result checked as
the API server would take it: its strict CRD schema (tests/upstream/), and namespaced or
cluster-scoped as its CRD says (`spec.scope` of the CRDs in shared/conformance/: Kueue
v0.19.2, Trainer v2.3.0, KServe v0.20.0, prometheus-operator v0.93.0, KFP 2.17.0); a
namespaced object outside the environment's namespace, or a cluster-scoped one with a
namespace, would land in the wrong place or be refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from compiler.targets.kubeflow.native import DEFAULT_NAMESPACE
from tests.cli_helpers import run
from tests.conftest import EXAMPLES, UPSTREAM, copy_example, tool

# (apiVersion, kind) -> (strict schema under tests/upstream/, namespaced)
KINDS: dict[tuple[str, str], tuple[str | None, bool]] = {
    ("serving.kserve.io/v1beta1", "InferenceService"): (
        "kserve/inferenceservice.v1beta1.strict.schema.json",
        True,
    ),
    # KServe master aaac4e294dae (no release has spec.scaling.keda; docs/llm.md)
    ("serving.kserve.io/v1alpha2", "LLMInferenceService"): (
        "kserve/llminferenceservice.v1alpha2.strict.schema.json",
        True,
    ),
    ("monitoring.coreos.com/v1", "PrometheusRule"): (
        "prometheus-operator/prometheusrule.v1.strict.schema.json",
        True,
    ),
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): (
        "prometheus-operator/alertmanagerconfig.v1alpha1.strict.schema.json",
        True,
    ),
    ("trainer.kubeflow.org/v1alpha1", "TrainingRuntime"): (
        "kubeflow/trainingruntime.v1alpha1.strict.schema.json",
        True,
    ),
    ("kueue.x-k8s.io/v1beta2", "ResourceFlavor"): (
        "kueue/resourceflavor.v1beta2.strict.schema.json",
        False,
    ),
    ("kueue.x-k8s.io/v1beta2", "ClusterQueue"): (
        "kueue/clusterqueue.v1beta2.strict.schema.json",
        False,
    ),
    ("kueue.x-k8s.io/v1beta2", "LocalQueue"): ("kueue/localqueue.v1beta2.strict.schema.json", True),
    ("kueue.x-k8s.io/v1beta2", "WorkloadPriorityClass"): (
        "kueue/workloadpriorityclass.v1beta2.strict.schema.json",
        False,
    ),
    ("pipelines.kubeflow.org/v2beta1", "Pipeline"): (
        "kubeflow-pipelines/pipeline.v2beta1.strict.schema.json",
        True,
    ),
    ("pipelines.kubeflow.org/v2beta1", "PipelineVersion"): (
        "kubeflow-pipelines/pipelineversion.v2beta1.strict.schema.json",
        True,
    ),
    # core kinds (the drift job): the API server's own types, namespaced
    ("v1", "ConfigMap"): (None, True),
    ("batch/v1", "CronJob"): (None, True),
}


class _GoYaml(yaml.SafeLoader):
    """Reads what kubectl writes: YAML 1.1's `=` (the "value" key) is a plain string to Go's
    yaml library, and kubectl leaves it unquoted (an AlertmanagerConfig's `matchType: =`)."""


_GoYaml.add_constructor(
    "tag:yaml.org,2002:value",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


def _compiled(tmp_path: Path, example: str, native_pipelines: bool) -> Path:
    repo = copy_example(tmp_path, example)
    if native_pipelines:  # the Kubernetes-native KFP store puts pipelines in the folder too
        project = repo / "modelkiln.yaml"
        text = project.read_text()
        project.write_text(text.replace("  pipelines:\n", "  pipelines:\n    store: kubernetes\n"))
    proc = run("compile", repo, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path / "out"


def _namespaces(example: str) -> dict[str, str]:
    """Each environment's namespace, from the example's Project."""
    project = yaml.safe_load((EXAMPLES / example / "modelkiln.yaml").read_text())
    return {e["name"]: e["namespace"] for e in project["spec"]["environments"]}


def _built(kubectl: str, folder: Path) -> list[dict[str, Any]]:
    proc = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return [d for d in yaml.load_all(proc.stdout, Loader=_GoYaml) if d]


def _problems(doc: dict[str, Any], namespace: str) -> list[str]:
    key = (doc.get("apiVersion"), doc.get("kind"))
    where = f"{key[1]} {doc.get('metadata', {}).get('name')}"
    if key not in KINDS:
        return [f"{where}: {key[0]} {key[1]} is not a kind this test knows how to check"]
    schema, namespaced = KINDS[key]
    problems = []
    if schema is not None:
        validator = jsonschema.Draft7Validator(json.loads((UPSTREAM / schema).read_text()))
        problems += [f"{where}: {e.json_path}: {e.message}" for e in validator.iter_errors(doc)]
    found = doc["metadata"].get("namespace")
    if key[0] == "pipelines.kubeflow.org/v2beta1":  # in KFP's own namespace (single-user)
        namespace = DEFAULT_NAMESPACE
    if namespaced and found != namespace:
        problems.append(f"{where}: namespace {found!r}, the environment's is {namespace!r}")
    if not namespaced and found is not None:
        problems.append(f"{where}: cluster-scoped, but has namespace {found!r}")
    return problems


@pytest.mark.parametrize(
    ("example", "native"),
    [("quickstart", False), ("multi-cloud", False), ("multi-cloud", True), ("llm", False)],
    ids=["quickstart", "multi-cloud", "multi-cloud-kfp-native", "llm"],
)
def test_what_argo_cd_applies_is_what_the_api_server_takes(
    tmp_path: Path, example: str, native: bool
) -> None:
    kubectl = tool("kubectl")
    out = _compiled(tmp_path, example, native)
    namespaces = _namespaces(example)
    assert namespaces, "no environment found"
    seen: set[str] = set()
    problems: list[str] = []
    for env, namespace in sorted(namespaces.items()):
        for doc in _built(kubectl, out / env):
            seen.add(doc["kind"])
            problems += [f"{env}: {p}" for p in _problems(doc, namespace)]
    assert problems == []
    # the test reaches what this work renders, so it cannot pass on an empty build
    if example == "llm":
        assert {"InferenceService", "LLMInferenceService"} <= seen
        return
    assert {"InferenceService", "PrometheusRule", "ResourceFlavor", "ClusterQueue"} <= seen
    assert "LocalQueue" in seen
    if example == "multi-cloud":
        assert "TrainingRuntime" in seen
    if native:
        assert {"Pipeline", "PipelineVersion"} <= seen


def test_the_check_catches_a_misplaced_object() -> None:
    queue = {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ClusterQueue",
        "metadata": {"name": "q", "namespace": "ml-prod"},
        "spec": {},
    }
    assert _problems(queue, "ml-prod") == [
        "ClusterQueue q: cluster-scoped, but has namespace 'ml-prod'"
    ]
    local = {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "LocalQueue",
        "metadata": {"name": "t"},
        "spec": {"clusterQueue": "q", "surprise": 1},
    }
    found = _problems(local, "ml-prod")
    assert any("surprise" in p for p in found) and any("namespace None" in p for p in found)
