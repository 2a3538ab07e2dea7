"""Admittable pods: every rendered predictor (and canary), merged with the ServingRuntime
KServe v0.20.0 would use, is a container the API server accepts (requests ≤ limits, GPUs as
limits). The merge and the admission rules are KServe's and Kubernetes' own
(tests/kserve_consumer.py); the runtimes are the vendored v0.20.0 config/runtimes/."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.plan import GPU_RESOURCE
from compiler.spec.types import check_quantity
from compiler.targets.serving.inferenceservice import inference_service
from tests.kfp_helpers import plan_of
from tests.kserve_consumer import (
    admission_problems,
    merged_container,
    mergo_override,
    runtime_for,
    runtimes,
    strategic_merge,
)
from tests.serving_helpers import every_inference_service

RENDERED = every_inference_service()


def _containers(isvc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(which, merged kserve-container) of the stable predictor and of every canary, each
    built the way KServe builds it (a canary is merged over the stable predictor first)."""
    stable = isvc["spec"]["predictor"]
    out = [("predictor", merged_container(stable["model"]))]
    for canary in isvc["spec"].get("canary", []):
        predictor = mergo_override(stable, canary["predictor"])
        out.append((f"canary {predictor['name']}", merged_container(predictor["model"])))
    return out


@pytest.mark.parametrize("label,isvc", RENDERED, ids=[label for label, _ in RENDERED])
def test_every_rendered_predictor_is_admitted_after_the_runtime_merge(
    label: str, isvc: dict[str, Any]
) -> None:
    on_gpu = GPU_RESOURCE in str(isvc["spec"]["predictor"]["model"].get("resources"))
    for which, container in _containers(isvc):
        assert admission_problems(container) == [], f"{which}: {container['resources']}"
        limits = container["resources"]["limits"]
        assert (GPU_RESOURCE in limits) == on_gpu, which
        assert GPU_RESOURCE not in container["resources"].get("requests", {}), which


def test_the_check_refuses_what_the_issue_found() -> None:
    # The old rendering: a CPU request of 6 and no CPU limit, over kserve-torchserve's
    # limits.cpu 1 (issue 10), is refused; so is a GPU request different from its limit.
    old = {
        "modelFormat": {"name": "pytorch"},
        "runtime": "kserve-torchserve",
        "resources": {"requests": {"cpu": "6", "memory": "16Gi"}, "limits": {"memory": "16Gi"}},
    }
    assert admission_problems(merged_container(old)) == [
        "cpu request 6 must be less than or equal to cpu limit 1"
    ]
    gpu = {"resources": {"requests": {GPU_RESOURCE: 2}, "limits": {GPU_RESOURCE: 1}}}
    assert len(admission_problems(gpu)) == 2


def test_merge_follows_kserve_unit_test() -> None:
    # kserve v0.20.0 pkg/controller/v1beta1/inferenceservice/utils/utils_test.go
    # TestMergeRuntimeContainers: limits from the ISVC, requests kept from the runtime,
    # env merged by name, args runtime-first
    runtime = {
        "name": "kserve-container",
        "args": ["--a"],
        "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
        "resources": {
            "limits": {"cpu": "1", "memory": "2Gi"},
            "requests": {"cpu": "1", "memory": "2Gi"},
        },
    }
    isvc = {
        "env": [{"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}],
        "resources": {"limits": {"cpu": "2", "memory": "4Gi"}},
    }
    merged = strategic_merge(runtime, isvc)
    assert merged["resources"] == {
        "limits": {"cpu": "2", "memory": "4Gi"},
        "requests": {"cpu": "1", "memory": "2Gi"},
    }
    assert merged["env"] == [
        {"name": "X", "value": "1"},
        {"name": "Y", "value": "3"},
        {"name": "Z", "value": "4"},
    ]
    model = {"modelFormat": {"name": "sklearn"}, "args": ["--b"]}
    assert merged_container(model)["args"][-1] == "--b"
    assert merged_container(model)["args"][0] == "--model_name={{.Name}}"


def test_runtime_selection_follows_kserve() -> None:
    # autoSelect, protocol v1 and priority (predictor_model.go GetSupportingRuntimes)
    pick = {
        f: runtime_for({"modelFormat": {"name": f}})["metadata"]["name"]
        for f in ("sklearn", "xgboost", "huggingface", "tensorflow", "lightgbm")
    }
    assert pick == {
        "sklearn": "kserve-sklearnserver",  # mlserver speaks v2 only
        "xgboost": "kserve-xgbserver",
        "huggingface": "kserve-huggingfaceserver",  # multinode has a workerSpec
        "tensorflow": "kserve-openvino",  # priority 3 beats tensorflow-serving's 2
        "lightgbm": "kserve-lgbserver",
    }


_CPU = st.one_of(
    st.integers(1, 64).map(str),
    st.integers(100, 64000).map(lambda m: f"{m}m"),
    st.decimals("0.1", "64", places=1).map(str),
)
_MEMORY = st.one_of(
    st.integers(64, 262144).map(lambda m: f"{m}Mi"),
    st.integers(1, 512).map(lambda g: f"{g}Gi"),
    st.integers(1, 500).map(lambda g: f"{g}G"),
    st.integers(10**8, 10**11).map(str),
)


@settings(max_examples=150, deadline=None)
@given(
    cpu=st.none() | _CPU,
    memory=st.none() | _MEMORY,
    gpus=st.integers(0, 8),
    runtime=st.sampled_from(sorted(runtimes())),
    mode=st.sampled_from(["knative", "standard"]),
)
def test_any_resources_are_admitted_with_any_runtime(
    cpu: str | None, memory: str | None, gpus: int, runtime: str, mode: str
) -> None:
    plan = plan_of("quickstart")
    env = plan.environments[0]
    model = env.models[0]
    assert model.serving is not None
    for value in (cpu, memory):
        if value is not None:
            check_quantity(value)  # what validation lets through
    serving = dataclasses.replace(
        model.serving,
        cpu=cpu,
        memory=memory,
        gpus=gpus,
        runtime=runtime,
        deployment=dataclasses.replace(model.serving.deployment, mode=mode),
    )
    isvc = inference_service(env, dataclasses.replace(model, serving=serving))
    for which, container in _containers(isvc):
        assert admission_problems(container) == [], (which, container["resources"])
        if gpus:
            assert container["resources"]["limits"][GPU_RESOURCE] == gpus
