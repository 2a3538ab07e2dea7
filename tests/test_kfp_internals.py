"""Where the compiler goes around kfp's public API for speed, it must agree with kfp: the
replaced task check is kfp's own outside a render and fails loudly when kfp changes, and the
hand-built kfp-kubernetes messages equal what the kfp.kubernetes helpers build.
(No `from __future__ import annotations`: kfp reads the probe pipeline's annotations.)"""

import dataclasses
import subprocess
import sys
import tomllib
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import kfp
import pytest
from google.protobuf import json_format
from kfp import dsl, kubernetes
from kfp.dsl import pipeline_task
from kfp.dsl.pipeline_task import PipelineTask
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb2

from compiler.plan import MANAGED_BY, EnvironmentPlan, ModelPlan, Secret
from compiler.render import render
from compiler.targets.kubeflow import components, kfp_patches
from compiler.targets.kubeflow.pipeline import _kubernetes
from tests.conftest import EXAMPLES, REPO
from tests.kfp_helpers import plan_of

NAME = "_ensure_container_spec_exists"
KFP_ORIGINAL = PipelineTask.__dict__[NAME]


def test_kfp_is_as_shipped_outside_a_render() -> None:
    assert KFP_ORIGINAL.__module__ == "kfp.dsl.pipeline_task"
    assert kfp_patches.PATCHES[0].original is KFP_ORIGINAL
    with kfp_patches.applied():
        assert PipelineTask.__dict__[NAME] is kfp_patches.PATCHES[0].replacement
        with kfp_patches.applied():  # nested: the inner level puts back what it found
            pass
        assert PipelineTask.__dict__[NAME] is kfp_patches.PATCHES[0].replacement
    assert PipelineTask.__dict__[NAME] is KFP_ORIGINAL


def test_applied_restores_kfp_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError, match="while rendering"), kfp_patches.applied():
        raise RuntimeError("while rendering")
    assert PipelineTask.__dict__[NAME] is KFP_ORIGINAL


def _stack_forbidden() -> None:
    raise AssertionError("kfp's own check (inspect.stack) ran during a render")


def test_a_render_uses_the_replacement_then_restores_kfp(monkeypatch: pytest.MonkeyPatch) -> None:
    # kfp's original is the only user of inspect in pipeline_task: if it ran, render raises
    monkeypatch.setattr(pipeline_task, "inspect", SimpleNamespace(stack=_stack_forbidden))
    files = render(plan_of("quickstart"), workers=1)
    assert "prod/models/fraud-detector/pipeline.yaml" in files
    assert PipelineTask.__dict__[NAME] is KFP_ORIGINAL


def test_a_render_that_raises_restores_kfp() -> None:
    plan = plan_of("quickstart")
    env = plan.environments[0]
    model = env.models[0]
    assert model.training is not None
    broken = dataclasses.replace(model, training=dataclasses.replace(model.training, cpu="lots"))
    bad_plan = dataclasses.replace(plan, environments=(dataclasses.replace(env, models=(broken,)),))
    with pytest.raises(ValueError, match="Invalid cpu string"):  # kfp's set_cpu_request
        render(bad_plan, workers=1)
    assert PipelineTask.__dict__[NAME] is KFP_ORIGINAL


def set_cpu_request(task: Any, check: Any) -> None:
    """Named like a kfp task setter: the check names its caller in the message."""
    check(task)


def test_the_replacement_raises_what_kfp_raises() -> None:
    replacement = kfp_patches.PATCHES[0].replacement
    pipeline_as_component = SimpleNamespace(container_spec=None)
    with pytest.raises(ValueError) as theirs:
        set_cpu_request(pipeline_as_component, KFP_ORIGINAL)
    with pytest.raises(ValueError) as ours:
        set_cpu_request(pipeline_as_component, replacement)
    assert str(ours.value) == str(theirs.value)
    assert str(ours.value).startswith("set_cpu_request can only be used")
    container = SimpleNamespace(container_spec=object())
    assert KFP_ORIGINAL(container) is None
    assert replacement(container) is None


def _declared_kfp_range() -> set[str]:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in dependencies if d.startswith("kfp") and d[3] in "<>=!~")
    return set(spec[3:].split(","))


class ChangedTask:
    def _ensure_container_spec_exists(self, caller: str = "") -> None:
        """What a kfp release might turn the check into."""


class EmptyTask:
    pass


def test_a_changed_kfp_signature_fails_loudly() -> None:
    with pytest.raises(kfp_patches.KfpIncompatibleError) as caught:
        kfp_patches.checked(ChangedTask, NAME, "(self)", kfp_patches.PATCHES[0].replacement)
    message = str(caught.value)
    assert f"kfp {kfp.__version__} is not supported" in message
    assert f"{__name__}.ChangedTask.{NAME} has the signature (self, caller='')" in message
    hint = caught.value.hint
    assert hint is not None and hint.startswith("install kfp")
    assert set(hint.removeprefix("install kfp").split(",")) == _declared_kfp_range()


def test_a_missing_kfp_attribute_fails_loudly() -> None:
    with pytest.raises(kfp_patches.KfpIncompatibleError, match=f"EmptyTask.{NAME} does not exist"):
        kfp_patches.checked(EmptyTask, NAME, "(self)", kfp_patches.PATCHES[0].replacement)


CHANGED_KFP = f"""
import sys
from kfp.dsl.pipeline_task import PipelineTask

def changed(self, depth=1):
    pass

PipelineTask.{NAME} = changed
from compiler.cli import main
main(["compile", sys.argv[1], "--out", sys.argv[2]], prog_name="modelkiln")
"""


def test_the_cli_exits_3_in_one_line_when_kfp_changed(tmp_path: Any) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHANGED_KFP, str(EXAMPLES / "quickstart"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first == (
        f"modelkiln: error: kfp {kfp.__version__} is not supported: "
        f"kfp.dsl.pipeline_task.PipelineTask.{NAME} has the signature (self, depth=1), "
        "not (self) (modelkiln replaces it)"
    )
    assert not (tmp_path / "out").exists()


# The hand-built KubernetesExecutorConfig against the kfp.kubernetes helpers.


def _by_helpers(task: Any, env: EnvironmentPlan, model: ModelPlan) -> Any:
    """The settings `_kubernetes` writes, applied one kfp.kubernetes helper at a time."""
    training = model.training
    assert training is not None
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "modelkiln.dev/environment": env.name,
        "modelkiln.dev/model": model.name,
    }
    for key, value in labels.items():
        kubernetes.add_pod_label(task, key, value)
    for key, value in training.placement.node_selector:
        kubernetes.add_node_selector(task, key, value)
    for taint in training.placement.tolerations:
        kubernetes.add_toleration(
            task, key=taint.key, operator="Equal", value=taint.value, effect=taint.effect
        )
    if training.timeout_seconds:
        kubernetes.set_timeout(task, training.timeout_seconds)
    if training.shm:
        kubernetes.empty_dir_mount(
            task, "dshm", "/dev/shm", medium="Memory", size_limit=training.shm_size
        )
    if training.run_as_non_root:
        kubernetes.set_security_context(task, run_as_non_root=True)
    if training.gpus and training.queue:
        kubernetes.add_pod_label(task, "kueue.x-k8s.io/queue-name", training.queue)
    if training.gpus and training.priority_class:
        kubernetes.add_pod_label(task, "kueue.x-k8s.io/priority-class", training.priority_class)
    by_secret: dict[str, dict[str, str]] = defaultdict(dict)
    for secret in training.secrets:
        by_secret[secret.name][secret.key] = secret.env
    for name in sorted(by_secret):
        kubernetes.use_secret_as_env(task, name, by_secret[name], optional=False)
    return task.set_caching_options(False)


def _configs(env: EnvironmentPlan, model: ModelPlan) -> tuple[dict[str, Any], dict[str, Any]]:
    """(hand-built, helper-built) kubernetes platform config of one task each."""
    tasks: list[Any] = []

    @dsl.pipeline(name="probe")
    def probe() -> None:
        for _ in range(2):
            step = components.builtin("check_data", env.images)
            tasks.append(step(uri="s3://b/k", data_format="parquet", version="v1", contract="{}"))

    ours = _kubernetes(tasks[0], env, model, training=model.training, secrets=True)
    theirs = _by_helpers(tasks[1], env, model)
    assert ours._task_spec.enable_caching == theirs._task_spec.enable_caching is False
    return ours.platform_config["kubernetes"], theirs.platform_config["kubernetes"]


def _trained_models() -> list[tuple[str, str, str]]:
    return [
        (example, env.name, model.name)
        for example in ("quickstart", "multi-cloud")
        for env in plan_of(example).environments
        for model in env.models
        if model.training is not None
    ]


def _messages(
    ours: dict[str, Any], theirs: dict[str, Any]
) -> tuple[k8s_pb2.KubernetesExecutorConfig, k8s_pb2.KubernetesExecutorConfig]:
    parse = k8s_pb2.KubernetesExecutorConfig
    return json_format.ParseDict(ours, parse()), json_format.ParseDict(theirs, parse())


@pytest.mark.parametrize(("example", "env_name", "model_name"), _trained_models())
def test_hand_built_platform_config_equals_the_kfp_kubernetes_helpers(
    example: str, env_name: str, model_name: str
) -> None:
    env = next(e for e in plan_of(example).environments if e.name == env_name)
    model = next(m for m in env.models if m.name == model_name)
    ours, theirs = _configs(env, model)
    assert ours == theirs
    ours_message, theirs_message = _messages(ours, theirs)
    assert ours_message == theirs_message
    assert ours_message.pod_metadata.labels["modelkiln.dev/model"] == model_name


def test_hand_built_secrets_equal_the_helpers_with_several_keys_and_secrets() -> None:
    env = next(e for e in plan_of("multi-cloud").environments if e.name == "prod-eu")
    model = next(m for m in env.models if m.training is not None and m.training.pool)
    assert model.training is not None
    secrets = (
        Secret("wandb", "api-key", "WANDB_API_KEY"),
        Secret("aws", "secret", "AWS_SECRET_ACCESS_KEY"),
        Secret("wandb", "entity", "WANDB_ENTITY"),
    )
    training = dataclasses.replace(model.training, secrets=secrets)
    model = dataclasses.replace(model, training=training)
    ours, theirs = _configs(env, model)
    assert ours == theirs
    ours_message, _ = _messages(ours, theirs)
    assert [s.secret_name for s in ours_message.secret_as_env] == ["aws", "wandb"]
    assert len(ours_message.tolerations) == len(training.placement.tolerations) >= 2


@pytest.mark.parametrize("shm_size", ["64Gi", None])
def test_hand_built_shm_security_and_kueue_equal_the_helpers(shm_size: str | None) -> None:
    """/dev/shm (kfp.kubernetes.empty_dir_mount), runAsNonRoot (set_security_context) and
    Kueue's labels (add_pod_label) as the helpers write them, with and without a sizeLimit."""
    env = next(e for e in plan_of("quickstart").environments if e.name == "prod")
    model = next(m for m in env.models if m.training is not None and m.training.gpus)
    assert model.training is not None
    training = dataclasses.replace(
        model.training,
        shm_size=shm_size,
        run_as_non_root=True,
        queue="team-risk",
        priority_class="batch",
    )
    ours, theirs = _configs(env, dataclasses.replace(model, training=training))
    assert ours == theirs
    message, _ = _messages(ours, theirs)
    assert [m.mount_path for m in message.empty_dir_mounts] == ["/dev/shm"]
    assert message.empty_dir_mounts[0].HasField("size_limit") == (shm_size is not None)
    assert message.security_context.run_as_non_root is True
    assert message.pod_metadata.labels["kueue.x-k8s.io/queue-name"] == "team-risk"
