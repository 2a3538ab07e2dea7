"""Compiled pipelines: strict protos, resolved references, the spec's resources and placement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from compiler.plan import GPU_RESOURCE, POOL_LABEL
from compiler.render import render
from tests.kfp_helpers import files_of, pipeline_docs, plan_of, yaml_docs

EXAMPLES = ["quickstart", "multi-cloud"]


def _struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(struct)
    return result


@pytest.mark.parametrize("example", EXAMPLES)
def test_pipelines_parse_strictly(example: str) -> None:
    docs = pipeline_docs(example)
    assert docs
    for path, (spec_doc, platform_doc) in docs.items():
        spec = pipeline_spec_pb2.PipelineSpec()
        json_format.ParseDict(spec_doc, spec)  # raises on any unknown field
        deployment = pipeline_spec_pb2.PipelineDeploymentConfig()
        json_format.ParseDict(_struct_to_dict(spec.deployment_spec), deployment)
        platform = pipeline_spec_pb2.PlatformSpec()
        json_format.ParseDict(platform_doc, platform)
        executors = platform.platforms["kubernetes"].deployment_spec.executors
        for name, config in executors.items():
            parsed = k8s_pb2.KubernetesExecutorConfig()
            json_format.ParseDict(_struct_to_dict(config), parsed)
            assert name in deployment.executors, (path, name)
        # every componentRef and executorLabel resolves
        for task in spec.root.dag.tasks.values():
            assert task.component_ref.name in spec.components, (path, task.component_ref.name)
        for component in spec.components.values():
            assert component.executor_label in deployment.executors


def _train_executor(example: str, env: str, model: str) -> tuple[dict[str, Any], dict[str, Any]]:
    spec, platform = pipeline_docs(example)[f"{env}/models/{model}/pipeline.yaml"]
    container = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    return container, k8s


def test_train_executor_matches_spec_and_pool() -> None:
    plan = plan_of("quickstart")
    env = plan.environments[0]
    model = env.models[0]
    training = model.training
    assert training is not None and training.pool is not None
    container, k8s = _train_executor("quickstart", env.name, model.name)
    assert container["image"] == "ghcr.io/acme/fraud-train:3.2.0"
    resources = container["resources"]
    assert resources["accelerator"]["resourceType"] == GPU_RESOURCE
    assert int(resources["accelerator"]["resourceCount"]) == training.gpus == 4
    assert resources["resourceCpuRequest"] == "32"
    assert resources["resourceMemoryRequest"] == resources["resourceMemoryLimit"] == "256Gi"
    assert k8s["nodeSelector"]["labels"] == {POOL_LABEL: "a100-train"}
    pool = env.pools[[p.name for p in env.pools].index("a100-train")]
    assert dict(pool.labels)[POOL_LABEL] == "a100-train"
    tolerations = {(t["key"], t["value"], t["effect"]) for t in k8s["tolerations"]}
    assert tolerations == {(t.key, t.value, t.effect) for t in pool.taints}
    assert k8s["activeDeadlineSeconds"] == str(12 * 3600)
    assert k8s["secretAsEnv"][0]["keyToEnv"] == [
        {"envVar": "WANDB_API_KEY", "secretKey": "api-key"}
    ]
    env_vars = {e["name"]: e["value"] for e in container["env"]}
    assert env_vars["WANDB_PROJECT"] == "fraud"
    assert env_vars["MODELKILN_STORAGE_URI"] == "gs://acme-models/fraud-detector/3.2.0"
    # the user's command and args reach the image unchanged, hyperparameters follow
    args = container["args"]
    assert args[3:8] == ["torchrun", "-m", "fraud.train", "--epochs", "20"]
    assert "--lr" in args and "--batchSize" in args


def test_cpu_model_has_no_gpu_and_no_placement() -> None:
    container, k8s = _train_executor("multi-cloud", "prod-us", "churn")
    assert "accelerator" not in container.get("resources", {})
    assert "nodeSelector" not in k8s and "tolerations" not in k8s


def test_parameters_override_at_run_time() -> None:
    spec, _ = pipeline_docs("quickstart")["prod/models/fraud-detector/pipeline.yaml"]
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["lr"]["defaultValue"] == 0.001
    assert params["batchSize"]["parameterType"] == "NUMBER_INTEGER"
    assert params["data_version_transactions"]["defaultValue"] == "2026-11-01"
    tasks = spec["root"]["dag"]["tasks"]
    check = tasks["check-data"]["inputs"]["parameters"]["version"]
    assert check == {"componentInputParameter": "data_version_transactions"}


def test_steps_in_order() -> None:
    spec, _ = pipeline_docs("quickstart")["prod/models/fraud-detector/pipeline.yaml"]
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"check-data", "train", "evaluate", "check-gates", "register-model"}
    assert tasks["train"]["dependentTasks"] == ["check-data"]
    assert "check-gates" in tasks["register-model"]["dependentTasks"]
    gates = json.loads(
        tasks["check-gates"]["inputs"]["parameters"]["gates"]["runtimeValue"]["constant"]
    )
    assert gates == [
        {"max": None, "metric": "auc", "min": 0.92},
        {"max": 20.0, "metric": "p99LatencyMs", "min": None},
    ]
    assert (
        tasks["check-gates"]["inputs"]["artifacts"]["metrics"]["taskOutputArtifact"]["producerTask"]
        == "evaluate"
    )


def test_distributed_training_renders_a_trainjob_the_pipeline_launches() -> None:
    files = files_of("multi-cloud")
    job = yaml_docs(files["prod-us/models/recommender/training/trainjob.yaml"])[0]
    trainer = job["spec"]["trainer"]
    assert trainer["numNodes"] == 2 and trainer["numProcPerNode"] == 8
    assert trainer["resourcesPerNode"]["limits"][GPU_RESOURCE] == 8
    patch = job["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]
    pod = patch["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {POOL_LABEL: "h100-train"}
    spec, _ = pipeline_docs("multi-cloud")["prod-us/models/recommender/pipeline.yaml"]
    task = spec["root"]["dag"]["tasks"]["launch-training-job"]
    embedded = json.loads(task["inputs"]["parameters"]["manifest"]["runtimeValue"]["constant"])
    assert embedded == job
    assert task["taskInfo"]["name"] == "train (TrainJob)"
    # staging overrides nodes to 1: trained by the pipeline's own step there
    assert not [p for p in files if p.startswith("staging/models/recommender/training/")]


def test_legacy_backend_renders_a_pytorchjob(tmp_path: Path) -> None:
    from tests.training_helpers import variant_files

    files = variant_files("multi-cloud", "pytorchjob", tmp_path)
    job = yaml_docs(files["prod-us/models/recommender/training/pytorchjob.yaml"])[0]
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1 and replicas["Worker"]["replicas"] == 1
    pod = replicas["Worker"]["template"]["spec"]
    assert pod["nodeSelector"] == {POOL_LABEL: "h100-train"}
    assert pod["containers"][0]["resources"]["limits"][GPU_RESOURCE] == 8
    assert job["spec"]["nprocPerNode"] == "8"
    assert not [p for p in files if p.endswith("trainjob.yaml") or "/training/runtime" in p]
    spec, _ = yaml_docs(files["prod-us/models/recommender/pipeline.yaml"])
    launcher = spec["root"]["dag"]["tasks"]["launch-training-job"]["inputs"]["parameters"]
    assert json.loads(launcher["manifest"]["runtimeValue"]["constant"]) == job


def test_serving_only_model_has_no_pipeline() -> None:
    paths = [p for p in files_of("multi-cloud") if "/ticket-router/" in p]
    assert paths and all("/serving/" in p for p in paths)


def test_pipelines_index() -> None:
    """<env>/pipelines.json: what `deploy pipelines` reads; not a Kubernetes object."""
    files = files_of("multi-cloud")
    index = json.loads(files["prod-us/pipelines.json"])
    assert index["host"] == "https://kfp.prod-us.acme.internal" and index["store"] == "api"
    entries = {e["model"]: e for e in index["pipelines"]}
    assert sorted(entries) == ["churn", "recommender"]  # the trained models; not ticket-router
    rec = entries["recommender"]
    assert rec["schedule"] == {
        "cron": "0 0 2 * * 0",  # "0 2 * * 0" with KFP's seconds field first
        "spec": "0 2 * * 0",
        "maxConcurrency": 1,
        "noCatchup": True,
    }
    assert rec["parameters"]["lr"] == 0.0003 and entries["churn"]["schedule"] is None
    for entry in entries.values():  # the pipeline name is the IR's pipelineInfo.name
        spec, _ = yaml_docs(files[f"prod-us/{entry['file']}"])
        assert spec["pipelineInfo"]["name"] == entry["pipeline"]
    kustomization = yaml_docs(files["prod-us/kustomization.yaml"])[0]
    assert not any("pipeline" in r for r in kustomization["resources"])
    assert not any(p.endswith("recurring-run.yaml") for p in files)


def test_output_is_deterministic() -> None:
    first = render(plan_of("multi-cloud"), workers=1)
    second = render(plan_of("multi-cloud"), workers=2, parallel_from=1)  # worker processes
    assert first == second == files_of("multi-cloud")


def test_mlflow_tracking_environment() -> None:
    container, _ = _train_executor("multi-cloud", "prod-us", "churn")
    env_vars = {e["name"]: e["value"] for e in container["env"]}
    assert env_vars["MLFLOW_TRACKING_URI"] == "https://mlflow.acme.internal"
    assert env_vars["MLFLOW_EXPERIMENT_NAME"] == "churn-prod-us"
    assert env_vars["MODELKILN_MODEL_VERSION"] == "2.0.3"
    # the quickstart has no tracking server: no MLflow variables
    container, _ = _train_executor("quickstart", "prod", "fraud-detector")
    assert not any(e["name"].startswith("MLFLOW_") for e in container["env"])


def test_builtin_step_images_follow_the_project() -> None:
    spec, _ = pipeline_docs("multi-cloud")["prod-us/models/churn/pipeline.yaml"]
    executors = spec["deploymentSpec"]["executors"]
    gate = executors["exec-check-gates"]["container"]
    assert gate["image"] == "registry.acme.internal/modelkiln/steps:0.1.0"
    assert "pip install" not in " ".join(gate["command"])  # air-gapped: nothing installed
    spec, _ = pipeline_docs("quickstart")["prod/models/fraud-detector/pipeline.yaml"]
    check = spec["deploymentSpec"]["executors"]["exec-check-data"]["container"]
    assert check["image"] == "python:3.11-slim"
    assert "pyarrow" in " ".join(check["command"])


def test_pipeline_file_has_the_documents_kfp_compiler_writes(tmp_path: Any) -> None:
    import yaml
    from kfp import compiler

    from compiler.targets.kubeflow.pipeline import build_pipeline, compile_pipeline

    env = plan_of("multi-cloud").environments[1]
    for model in env.models:
        if model.training is None:
            continue
        path = tmp_path / f"{model.name}.yaml"
        compiler.Compiler().compile(build_pipeline(env, model), package_path=str(path))
        ours = compile_pipeline(env, model).decode()
        theirs = path.read_text()
        assert list(yaml.safe_load_all(ours)) == list(yaml.safe_load_all(theirs))
        assert ours.split("\ncomponents:")[0] == theirs.split("\ncomponents:")[0]  # header


def test_training_without_command_runs_the_image_entrypoint(tmp_path: Any) -> None:
    import shutil

    from compiler.load import load
    from compiler.planner import build_plan
    from compiler.validate import validate
    from tests.conftest import EXAMPLES

    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "quickstart", repo)
    model = repo / "models" / "fraud-detector.yaml"
    model.write_text(model.read_text().replace("    command: [torchrun, -m, fraud.train]\n", ""))
    result = validate(load(repo))
    assert result.ok, result.diagnostics
    files = render(build_plan(result.specs), workers=1)
    spec, _ = yaml_docs(files["prod/models/fraud-detector/pipeline.yaml"])
    container = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert "command" not in container
    assert container["args"][:2] == ["--epochs", "20"]
