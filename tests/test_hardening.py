"""The hardening helpers (compiler/targets/kubernetes.py) and the predictor's use of them
(compiler/targets/serving/hardening.py), read against the consumers' rules."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from compiler.plan import ServingPlan
from compiler.targets import kubernetes
from compiler.targets.serving import hardening
from tests.kfp_helpers import files_of, plan_of, yaml_docs


def _serving(example: str, env: str, model: str) -> ServingPlan:
    plan = next(e for e in plan_of(example).environments if e.name == env)
    serving = next(m for m in plan.models if m.name == model).serving
    assert serving is not None
    return serving


def test_pod_and_container_contexts() -> None:
    assert kubernetes.pod_security_context() == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod = kubernetes.pod_security_context(kubernetes.NON_ROOT_UID)
    assert pod["runAsUser"] == pod["runAsGroup"] == pod["fsGroup"] == 10001
    container = kubernetes.container_security_context()
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["readOnlyRootFilesystem"] is True and container["runAsNonRoot"] is True
    # fresh dicts: a caller that changes one changes no other pod
    container["capabilities"]["drop"].append("x")
    assert kubernetes.container_security_context()["capabilities"] == {"drop": ["ALL"]}


def test_gpu_predictors_keep_a_writable_root_and_cpu_ones_do_not() -> None:
    """The NVIDIA CDI hook writes into the container's root filesystem (kserve#5711): every
    predictor that gets GPUs has a writable root, every other one a read-only root."""
    seen = {True: 0, False: 0}
    for example in ("quickstart", "multi-cloud", "llm"):
        for path, data in files_of(example).items():
            if not path.endswith(("/inferenceservice.yaml", "/llminferenceservice.yaml")):
                continue
            doc = yaml_docs(data)[0]
            spec = doc["spec"]
            if doc["kind"] == "InferenceService":
                predictors = [spec["predictor"], *(c["predictor"] for c in spec.get("canary", []))]
                containers = [p["model"] for p in predictors]
            else:
                containers = spec["template"]["containers"]
            for container in containers:
                limits = container.get("resources", {}).get("limits", {})
                gpu = any(name.startswith("nvidia.com/") for name in limits)
                read_only = container["securityContext"]["readOnlyRootFilesystem"]
                assert read_only is not gpu, (path, container.get("name"))
                seen[gpu] += 1
    assert seen[True] and seen[False]


def test_scratch_volumes_are_mounted_by_name() -> None:
    volumes, mounts = kubernetes.scratch(["/tmp", "/home/model-server/logs"], size_limit="1Gi")
    assert [v["name"] for v in volumes] == [m["name"] for m in mounts]
    assert volumes[0] == {"name": "scratch-tmp", "emptyDir": {"sizeLimit": "1Gi"}}
    assert mounts[1] == {
        "name": "scratch-home-model-server-logs",
        "mountPath": "/home/model-server/logs",
    }


@pytest.mark.parametrize(
    ("image", "policy"),
    [("ghcr.io/modelkiln/drift:0.2.0", "Always"), ("r.io/d@sha256:" + "0" * 64, "IfNotPresent")],
)
def test_pull_policy(image: str, policy: str) -> None:
    assert kubernetes.pull_policy(image) == policy


def test_cpu_limit_only_when_asked() -> None:
    assert "cpu" not in kubernetes.resources("2", "4Gi", 0)["limits"]
    assert kubernetes.resources("2", "4Gi", 1, cpu_limit=True)["limits"] == {
        "cpu": "2",
        "memory": "4Gi",
        "nvidia.com/gpu": 1,
    }


def test_runtime_scratch_follows_the_auto_selected_runtime() -> None:
    torch = _serving("quickstart", "prod", "fraud-detector")  # runtime: kserve-torchserve
    assert hardening.scratch_paths(torch)[1:] == [
        "/home/model-server/tmp",
        "/home/model-server/logs",
    ]
    auto = dataclasses.replace(torch, runtime=None)  # pytorch: KServe picks TorchServe
    assert hardening.scratch_paths(auto) == hardening.scratch_paths(torch)
    xgb = _serving("multi-cloud", "prod-us", "churn")
    assert hardening.scratch_paths(xgb) == ["/tmp"]


def test_knative_mode_keeps_the_pod_security_context_off_the_pod() -> None:
    """Knative's PodSpecMask (knative-v1.21.1 pkg/apis/serving/fieldmask.go) drops a pod
    securityContext unless kubernetes.podspec-securitycontext is enabled, and keeps only
    automountServiceAccountToken: false; the container's context holds the rest."""
    serving = _serving("quickstart", "prod", "fraud-detector")
    knative = hardening.predictor_pod(serving, knative=True)
    assert "securityContext" not in knative
    assert knative["automountServiceAccountToken"] is False
    container = hardening.predictor_container(serving)["securityContext"]
    assert container["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["runAsNonRoot"] is True


def test_the_rendered_predictor_mounts_every_scratch_volume() -> None:
    for path, data in files_of("multi-cloud").items():
        if not path.endswith("inferenceservice.yaml"):
            continue
        predictor: dict[str, Any] = yaml_docs(data)[0]["spec"]["predictor"]
        volumes = {v["name"] for v in predictor["volumes"]}
        mounts = {m["name"] for m in predictor["model"]["volumeMounts"]}
        assert volumes == mounts and "scratch-tmp" in volumes, path
        # the runtime image's user (Knative-mode predictors, prod-eu, have no pod context)
        assert "runAsUser" not in predictor.get("securityContext", {})
