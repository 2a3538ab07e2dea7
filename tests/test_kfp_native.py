"""Kubernetes-native KFP (`spec.pipelines.store: kubernetes`): Pipeline and PipelineVersion
objects checked against KFP 2.17.0's CRDs (strict), against what the kfp SDK itself writes
for `kfp dsl compile --kubernetes-manifest-format --include-pipeline-manifest`, and against
the API server's admission webhook rules."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from compiler.build import compile_repository
from compiler.deploy import kfp_api
from compiler.deploy.pipelines import from_output
from compiler.errors import HostError
from compiler.output import sha256
from compiler.targets.kubeflow.index import version_name
from tests.conftest import EXAMPLES, UPSTREAM, copy_example
from tests.kfp_helpers import yaml_docs
from tests.kfp_server import State, now, serve

SCHEMAS = UPSTREAM / "kubeflow-pipelines"
# backend/src/apiserver/common/utils.go pipelineNamePattern (KFP 2.17.0), checked by the
# PipelineVersion webhook on create for the IR's pipelineInfo.name
PIPELINE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def native_copy(tmp_path: Path) -> Path:
    root = copy_example(tmp_path, "multi-cloud")
    project = root / "modelkiln.yaml"
    text = project.read_text()
    assert "  pipelines:\n" in text
    project.write_text(text.replace("  pipelines:\n", "  pipelines:\n    store: kubernetes\n", 1))
    assert compile_repository(root, source_commit="c0ffee").ok
    return root


@cache
def _schema(name: str) -> Any:
    return json.loads((SCHEMAS / f"{name}.v2beta1.strict.schema.json").read_text())


def _objects(out: Path) -> dict[Path, list[Any]]:
    return {p: yaml_docs(p.read_bytes()) for p in sorted(out.rglob("kfp-pipeline.yaml"))}


def test_objects_pass_the_crds_and_embed_the_pipeline(tmp_path: Path) -> None:
    out = native_copy(tmp_path) / "deploy"
    objects = _objects(out)
    assert len(objects) == 6  # churn and recommender in three environments
    for path, (pipeline, version) in objects.items():
        jsonschema.validate(pipeline, _schema("pipeline"))
        jsonschema.validate(version, _schema("pipelineversion"))
        compiled = path.with_name("pipeline.yaml").read_bytes()
        spec, platform = yaml_docs(compiled)
        body = version["spec"]
        assert (body["pipelineSpec"], body["platformSpec"]) == (spec, platform)
        assert body["pipelineName"] == pipeline["metadata"]["name"] == spec["pipelineInfo"]["name"]
        assert PIPELINE_NAME.match(spec["pipelineInfo"]["name"])
        model_version = spec["pipelineInfo"]["description"].split()[2]
        assert body["versionName"] == version_name(model_version, sha256(compiled))
        name = version["metadata"]["name"]
        assert DNS_SUBDOMAIN.match(name) and len(name) <= 253
        assert version["metadata"]["namespace"] == pipeline["metadata"]["namespace"] == "kubeflow"
        # immutable objects: Argo CD keeps the older versions that schedules may still use
        assert version["metadata"]["annotations"] == {
            "argocd.argoproj.io/sync-options": "Prune=false"
        }
        env_folder = path.parents[2]
        resources = yaml_docs((env_folder / "kustomization.yaml").read_bytes())[0]["resources"]
        assert path.relative_to(env_folder).as_posix() in resources
        assert "pipelines.json" not in resources


def test_objects_are_what_the_kfp_sdk_writes(tmp_path: Path) -> None:
    """kfp's own --kubernetes-manifest-format writer, given the same specs and names, writes
    the same objects except the two fields modelkiln adds (versionName, the annotation)."""
    from google.protobuf import json_format
    from kfp.compiler.compiler_utils import KubernetesManifestOptions
    from kfp.compiler.pipeline_spec_builder import _write_kubernetes_manifest_to_file
    from kfp.pipeline_spec import pipeline_spec_pb2

    out = native_copy(tmp_path) / "deploy"
    path, (pipeline, version) = next(iter(_objects(out).items()))
    spec_doc, platform_doc = yaml_docs(path.with_name("pipeline.yaml").read_bytes())
    spec = json_format.ParseDict(spec_doc, pipeline_spec_pb2.PipelineSpec())
    platform = json_format.ParseDict(platform_doc, pipeline_spec_pb2.PlatformSpec())
    options = KubernetesManifestOptions(
        pipeline_name=pipeline["metadata"]["name"],
        pipeline_version_name=version["metadata"]["name"],
        pipeline_version_display_name=version["spec"]["displayName"],
        namespace="kubeflow",
        include_pipeline_manifest=True,
    )
    target = tmp_path / "sdk.yaml"
    _write_kubernetes_manifest_to_file(
        str(target), options, spec, platform, spec_doc["pipelineInfo"]["description"]
    )
    sdk_pipeline, sdk_version = yaml.safe_load_all(target.read_text())
    del version["spec"]["versionName"], version["metadata"]["annotations"]
    assert (pipeline, version) == (sdk_pipeline, sdk_version)


def test_api_store_has_no_objects() -> None:
    assert not list((EXAMPLES / "multi-cloud").rglob("kfp-pipeline.yaml"))


def _as_kfp_would(state: State, objects: dict[Path, list[Any]], env: str) -> None:
    """What the API server shows for objects Argo CD applied (Pipeline/PipelineVersion
    ToModel in backend/src/crd/kubernetes/v2beta1/, KFP 2.17.0: name = metadata.name, the
    version's name = spec.versionName)."""
    from kfp_server_api import models

    for path, (pipeline, version) in objects.items():
        if f"/{env}/" not in path.as_posix():
            continue
        pid = f"uid-{pipeline['metadata']['name']}"
        name = pipeline["metadata"]["name"]
        state.pipelines[pid] = models.V2beta1Pipeline(
            pipeline_id=pid, name=name, display_name=name, created_at=now()
        )
        vid = f"uid-{version['metadata']['name']}"
        state.versions[vid] = models.V2beta1PipelineVersion(
            pipeline_id=pid,
            pipeline_version_id=vid,
            name=version["spec"]["versionName"],
            display_name=version["spec"]["displayName"],
            created_at=now(),
        )


def test_deploy_manages_only_schedules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kfp_api, "BACKOFF_S", 0.01)
    root = native_copy(tmp_path)
    with serve() as (host, state):
        with pytest.raises(HostError, match="is not in Kubeflow Pipelines"):
            from_output(root, "prod-us", host, None, dry_run=False)  # Argo CD has not synced
        assert state.writes == []
        _as_kfp_would(state, _objects(root / "deploy"), "prod-us")
        from_output(root, "prod-us", host, None, dry_run=False)
        assert state.writes == [
            "create experiment modelkiln-prod-us",
            "create run modelkiln:prod-us/recommender",
        ]
        [run] = state.live_runs()
        assert run.pipeline_version_reference.pipeline_version_id.startswith("uid-recommender")


@pytest.mark.parametrize(
    ("model_version", "expected"),
    [
        ("5.1.0", "5.1.0-"),
        ("1.0.0-RC.1+Build.7", "1.0.0-rc.1-build.7-"),
        ("1.0.0-" + "a" * 300, "1.0.0-" + "a" * 94 + "-"),
    ],
)
def test_version_names_fit_kfp(model_version: str, expected: str) -> None:
    digest = sha256(b"pipeline")
    name = version_name(model_version, digest)
    assert name == expected + digest[:12]
    # the CRD's versionName pattern, KFP's 127-character name column, and the object name
    pattern = _schema("pipelineversion")["properties"]["spec"]["properties"]["versionName"]
    assert re.match(pattern["pattern"], name) and len(name) <= 127
    assert len(f"{'m' * 63}-{'e' * 63}-{name}") <= 253
