"""Training as the cluster runs it: every GPU used, attempts = 1 + retries, /dev/shm, hardening,
and TrainJob / TrainingRuntime / PyTorchJob as their CRDs and Trainer's webhook accept them
(docs/training.md)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from compiler.plan import EnvironmentPlan, ModelPlan
from compiler.spec.types import parse_quantity
from compiler.targets.kubeflow.pipeline import build_pipeline
from compiler.targets.training.pytorchjob import pytorchjob
from compiler.targets.training.runtime import RUNTIME_NAME
from compiler.targets.training.trainjob import trainjob
from tests.conftest import UPSTREAM
from tests.kfp_helpers import plan_of, yaml_docs
from tests.training_helpers import (
    VARIANTS,
    attempts_of_retry_policy,
    docs_ending,
    step_argv,
    torchrun_argv,
    torchrun_workers,
    variant_files,
)

EXAMPLES = ("quickstart", "multi-cloud")
CASES = [(e, v) for e in EXAMPLES for v in VARIANTS]
SCHEMAS = UPSTREAM / "kubeflow"
TORCH_DISTRIBUTED = UPSTREAM / "kubeflow" / "examples" / "torch_distributed.yaml"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("variants")


def _gpu_models(example: str) -> list[tuple[EnvironmentPlan, ModelPlan]]:
    return [
        (env, m)
        for env in plan_of(example).environments
        for m in env.models
        if m.training is not None and m.training.gpus > 0
    ]


def _pipeline(files: dict[str, bytes], env: str, model: str) -> tuple[dict[str, Any], ...]:
    spec, platform = yaml_docs(files[f"{env}/models/{model}/pipeline.yaml"])
    return spec, platform


def _step_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def _job(files: dict[str, bytes], env: str, model: str) -> dict[str, Any] | None:
    jobs = docs_ending(files, ".yaml")
    for name in ("trainjob.yaml", "pytorchjob.yaml"):
        path = f"{env}/models/{model}/training/{name}"
        if path in jobs:
            return jobs[path]
    return None


# --- every GPU used ----------------------------------------------------------------------


def _workers_of_job(job: dict[str, Any]) -> tuple[int, int, list[str]]:
    """(processes torchrun starts per node, nodes, command) of a launched job: Trainer sets
    PET_NPROC_PER_NODE from trainer.numProcPerNode and PET_NNODES from numNodes
    (pkg/runtime/framework/plugins/torch/torch.go @ v2.3.0); the Training Operator sets
    PET_NPROC_PER_NODE from nprocPerNode and PET_NNODES from the replica count
    (pkg/controller.v1/pytorch/envvar.go @ v1.9.4)."""
    if job["kind"] == "TrainJob":
        t = job["spec"]["trainer"]
        env = {"PET_NPROC_PER_NODE": str(t["numProcPerNode"]), "PET_NNODES": str(t["numNodes"])}
        command = [*t["command"], *t.get("args", [])]
    else:
        replicas = job["spec"]["pytorchReplicaSpecs"]
        nodes = sum(r["replicas"] for r in replicas.values())
        env = {"PET_NPROC_PER_NODE": job["spec"]["nprocPerNode"], "PET_NNODES": str(nodes)}
        container = replicas["Master"]["template"]["spec"]["containers"][0]
        command = [*container["command"], *container.get("args", [])]
    workers, nnodes = torchrun_workers(torchrun_argv(command), env)
    return workers, int(nnodes), command


@pytest.mark.parametrize(("example", "variant"), CASES)
def test_torchrun_starts_one_process_per_gpu(
    example: str, variant: str, root: Path, tmp_path: Path
) -> None:
    """For every GPU training of the examples (every pool shape they use), the process count
    torchrun derives from the rendered command and environment equals the GPUs per node."""
    files = variant_files(example, variant, root)
    models = _gpu_models(example)
    assert models
    for env, model in models:
        training = model.training
        assert training is not None
        job = _job(files, env.name, model.name)
        if job is None:  # the pipeline's own step
            spec, _ = _pipeline(files, env.name, model.name)
            container = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
            argv = step_argv(container, tmp_path)
            workers, nnodes = torchrun_workers(torchrun_argv(argv), _step_env(container))
            assert nnodes == "1"
            gpus = int(container["resources"]["accelerator"]["resourceCount"])
        else:
            workers, nodes, _ = _workers_of_job(job)
            assert nodes == training.nodes
            if job["kind"] == "TrainJob":
                gpus = job["spec"]["trainer"]["resourcesPerNode"]["limits"]["nvidia.com/gpu"]
            else:
                spec = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
                gpus = spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
        assert training.pool is not None
        assert workers == gpus == training.gpus, (env.name, model.name, variant)


def test_without_torchrun_env_one_process_would_run(tmp_path: Path) -> None:
    """The check above can fail: without modelkiln's PET_NPROC_PER_NODE torchrun starts one."""
    spec, _ = _pipeline(variant_files("quickstart", "default", tmp_path), "prod", "fraud-detector")
    container = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    argv = step_argv(container, tmp_path)
    assert torchrun_workers(torchrun_argv(argv), {})[0] == 1
    assert torchrun_workers(torchrun_argv(argv), _step_env(container))[0] == 4


# --- retries in one place ------------------------------------------------------------------


def _runtime_attempts(runtime: dict[str, Any]) -> int:
    """Attempts of one launch on a TrainingRuntime: the trainer Job's pods get
    1 + backoffLimit tries (Kubernetes' default backoffLimit is 6; JobSet's webhook defaults
    restartPolicy to OnFailure, whose container restarts also count), and the JobSet is
    recreated failurePolicy.maxRestarts times (absent: 0), kubernetes-sigs/jobset v0.12.0."""
    js = runtime["spec"]["template"]["spec"]
    restarts = js.get("failurePolicy", {}).get("maxRestarts", 0)
    (job,) = [j for j in js["replicatedJobs"] if j["name"] == "node"]
    backoff = job["template"]["spec"].get("backoffLimit", 6)
    assert job["template"]["spec"]["template"]["spec"].get("restartPolicy") == "Never"
    return int((1 + backoff) * (1 + restarts))


def _pytorchjob_attempts(job: dict[str, Any]) -> int:
    """A PyTorchJob's pods are not restarted with restartPolicy Never, and the job fails past
    runPolicy.backoffLimit failures (Training Operator v1.9.4, pkg/common/util, job.go)."""
    for replica in job["spec"]["pytorchReplicaSpecs"].values():
        assert replica["restartPolicy"] == "Never"
    return 1 + int(job["spec"]["runPolicy"]["backoffLimit"])


@pytest.mark.parametrize(("example", "variant"), [c for c in CASES if c[1] != "cluster-runtime"])
def test_attempts_are_one_plus_retries(example: str, variant: str, root: Path) -> None:
    files = variant_files(example, variant, root)
    paths = 0
    for env in plan_of(example).environments:
        for model in env.models:
            if model.training is None:
                continue
            spec, _ = _pipeline(files, env.name, model.name)
            tasks = spec["root"]["dag"]["tasks"]
            task = tasks.get("train") or tasks["launch-training-job"]
            attempts = attempts_of_retry_policy(task)
            job = _job(files, env.name, model.name)
            if job is not None and job["kind"] == "TrainJob":
                ref = job["spec"]["runtimeRef"]
                assert ref == {
                    "apiGroup": "trainer.kubeflow.org",
                    "kind": "TrainingRuntime",
                    "name": RUNTIME_NAME,
                }
                runtime = yaml_docs(files[f"{env.name}/training/runtime.yaml"])[0]
                assert runtime["metadata"]["namespace"] == job["metadata"]["namespace"]
                attempts *= _runtime_attempts(runtime)
            elif job is not None:
                attempts *= _pytorchjob_attempts(job)
            assert attempts == 1 + model.training.retries, (env.name, model.name)
            paths += 1
    assert paths


def test_upstream_runtime_would_retry_inside_each_launch() -> None:
    """Why modelkiln renders its own runtime: the upstream torch-distributed sets no
    backoffLimit, so one launch already makes up to 7 attempts (and its restartPolicy is
    JobSet's default OnFailure, not Never)."""
    upstream = yaml_docs(TORCH_DISTRIBUTED.read_bytes())[0]
    job = upstream["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]
    assert "backoffLimit" not in job
    assert "restartPolicy" not in job["template"]["spec"]
    with pytest.raises(AssertionError):
        _runtime_attempts(upstream)


# --- strict schemas and Trainer's webhook ------------------------------------------------------


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return schema


@pytest.mark.parametrize(("example", "variant"), CASES)
def test_rendered_jobs_and_runtimes_pass_their_strict_schemas(
    example: str, variant: str, root: Path
) -> None:
    files = variant_files(example, variant, root)
    kinds = {
        "TrainJob": _schema("trainjob.v1alpha1.strict.schema.json"),
        "TrainingRuntime": _schema("trainingruntime.v1alpha1.strict.schema.json"),
        "PyTorchJob": _schema("pytorchjob.v1.strict.schema.json"),
    }
    seen = set()
    for path, data in files.items():
        if "/training/" not in path:
            continue
        doc = yaml_docs(data)[0]
        jsonschema.validate(doc, kinds[doc["kind"]])
        seen.add(doc["kind"])
    # the quickstart's only training is single-node: a pipeline step unless gpu-jobs
    assert bool(seen) != ((example, variant) == ("quickstart", "default"))


_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*\Z")
_PATH = re.compile(r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+\Z")


def _domain_prefixed_path(value: str) -> bool:
    """k8s.io/apimachinery validation.IsDomainPrefixedPath: <DNS-1123 subdomain>/<path>."""
    host, sep, rest = value.partition("/")
    return bool(
        sep and rest and len(host) <= 253 and _DNS1123_SUBDOMAIN.match(host) and _PATH.match(rest)
    )


def _runtime_containers(runtime: dict[str, Any]) -> dict[str, set[str]]:
    return {
        j["name"]: {c["name"] for c in j["template"]["spec"]["template"]["spec"]["containers"]}
        for j in runtime["spec"]["template"]["spec"]["replicatedJobs"]
    }


def _webhook_errors(job: dict[str, Any], runtime: dict[str, Any]) -> list[str]:
    """The runtimePatches rules of Trainer's TrainJob webhook that JSON Schema cannot say
    (pkg/runtime/framework/plugins/jobset/jobset.go Validate, and the CRD's maxItems 16 in
    trainjob_types.go, kubeflow/trainer @ v2.3.0)."""
    errors = []
    patches = job["spec"].get("runtimePatches", [])
    if len(patches) > 16:
        errors.append("more than 16 runtimePatches")
    containers = _runtime_containers(runtime)
    for patch in patches:
        if not _domain_prefixed_path(patch["manager"]):
            errors.append(f"manager {patch['manager']!r} is not a domain-prefixed path")
        spec = patch.get("trainingRuntimeSpec", {}).get("template", {}).get("spec", {})
        for rjob in spec.get("replicatedJobs", []):
            if rjob["name"] not in containers:
                errors.append(f"replicatedJob {rjob['name']} not in the runtime")
                continue
            pod_spec = rjob.get("template", {}).get("spec", {}).get("template", {}).get("spec", {})
            for c in [*pod_spec.get("initContainers", []), *pod_spec.get("containers", [])]:
                if c["name"] not in containers[rjob["name"]]:
                    errors.append(f"container {c['name']} not in job {rjob['name']}")
                elif c.get("env") and c["name"] in {
                    "node",
                    "dataset-initializer",
                    "model-initializer",
                }:
                    errors.append(f"env patched on {c['name']}")
    return errors


@pytest.mark.parametrize(("example", "variant"), CASES)
def test_trainjobs_pass_trainers_webhook_rules(example: str, variant: str, root: Path) -> None:
    files = variant_files(example, variant, root)
    jobs = {p: d for p, d in docs_ending(files, "trainjob.yaml").items()}
    if variant == "pytorchjob" or (example, variant) == ("quickstart", "default"):
        assert not jobs
        return
    assert jobs
    upstream = yaml_docs(TORCH_DISTRIBUTED.read_bytes())[0]
    for path, job in jobs.items():
        ref = job["spec"]["runtimeRef"]
        if ref["kind"] == "TrainingRuntime":
            runtime = yaml_docs(files[path.split("/")[0] + "/training/runtime.yaml"])[0]
        else:
            assert ref["name"] == upstream["metadata"]["name"]
            runtime = upstream
        assert _webhook_errors(job, runtime) == [], path
        # PET_* belong to Trainer (pkg/constants TorchRunReservedEnvNames); refused in specs
        assert not [e for e in job["spec"]["trainer"]["env"] if e["name"].startswith("PET_")]


def test_webhook_check_can_fail() -> None:
    env, model = _gpu_models("multi-cloud")[0]
    job = trainjob(env, model)
    runtime = yaml_docs(TORCH_DISTRIBUTED.read_bytes())[0]
    patch = job["spec"]["runtimePatches"][0]
    bad = json.loads(json.dumps(patch))
    bad["manager"] = "modelkiln"
    rjob = bad["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    rjob["template"]["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A"}]
    job["spec"]["runtimePatches"] = [bad] * 17
    errors = _webhook_errors(job, runtime)
    assert "more than 16 runtimePatches" in errors
    assert any("domain-prefixed" in e for e in errors) and "env patched on node" in errors


def test_cluster_runtime_is_referenced_and_not_rendered(root: Path) -> None:
    files = variant_files("multi-cloud", "cluster-runtime", root)
    assert not [p for p in files if p.endswith("/training/runtime.yaml")]
    for job in docs_ending(files, "trainjob.yaml").values():
        assert job["spec"]["runtimeRef"]["kind"] == "ClusterTrainingRuntime"
    kustomizations = docs_ending(files, "/kustomization.yaml")
    assert all("training/runtime.yaml" not in k["resources"] for k in kustomizations.values())


def test_own_runtime_is_in_the_kustomization_of_each_environment_that_uses_it() -> None:
    from tests.kfp_helpers import files_of

    files = files_of("multi-cloud")
    for env in plan_of("multi-cloud").environments:
        uses = any(m.training and m.training.launched for m in env.models)
        kustomization = yaml_docs(files[f"{env.name}/kustomization.yaml"])[0]
        assert ("training/runtime.yaml" in kustomization["resources"]) == uses
        assert (f"{env.name}/training/runtime.yaml" in files) == uses
    assert any(
        m.training and m.training.launched
        for e in plan_of("multi-cloud").environments
        for m in e.models
    )


# --- /dev/shm and hardening ------------------------------------------------------------------


def _volumes_and_container(doc: dict[str, Any]) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """(volumes, training container (or its patch), pod securityContext) of a job."""
    if doc["kind"] == "TrainJob":
        rjob = doc["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"][
            "replicatedJobs"
        ][0]
        spec = rjob["template"]["spec"]["template"]["spec"]
    else:
        spec = doc["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    return spec.get("volumes", []), spec["containers"][0], spec["securityContext"]


@pytest.mark.parametrize(("example", "variant"), CASES)
def test_gpu_training_pods_mount_memory_backed_shm(example: str, variant: str, root: Path) -> None:
    files = variant_files(example, variant, root)
    for env, model in _gpu_models(example):
        training = model.training
        assert training is not None and training.memory is not None
        quarter = parse_quantity(training.memory) / 4  # the default shmFraction
        job = _job(files, env.name, model.name)
        if job is None:
            _, platform = _pipeline(files, env.name, model.name)
            k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
            (mount,) = k8s["emptyDirMounts"]
            assert (mount["mountPath"], mount["medium"]) == ("/dev/shm", "Memory")
            assert parse_quantity(mount["sizeLimit"]) == quarter
            continue
        volumes, container, _ = _volumes_and_container(job)
        (volume,) = volumes
        assert volume["emptyDir"]["medium"] == "Memory"
        assert parse_quantity(volume["emptyDir"]["sizeLimit"]) == quarter
        assert container["volumeMounts"] == [{"name": volume["name"], "mountPath": "/dev/shm"}]


@pytest.mark.parametrize(("example", "variant"), CASES)
def test_launched_training_pods_are_hardened(example: str, variant: str, root: Path) -> None:
    files = variant_files(example, variant, root)
    docs = [yaml_docs(d)[0] for p, d in files.items() if "/training/" in p]
    assert bool(docs) != ((example, variant) == ("quickstart", "default"))
    for doc in docs:
        if doc["kind"] == "TrainingRuntime":
            rjob = doc["spec"]["template"]["spec"]["replicatedJobs"][0]
            spec = rjob["template"]["spec"]["template"]["spec"]
            container, pod_sc = spec["containers"][0], spec["securityContext"]
        else:
            _, container, pod_sc = _volumes_and_container(doc)
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "runAsNonRoot" not in sc  # the examples' images may run as root (the default)


def test_run_as_non_root_reaches_every_path() -> None:
    env, model = _gpu_models("quickstart")[0]
    assert model.training is not None
    training = dataclasses.replace(model.training, run_as_non_root=True, nodes=2)
    model = dataclasses.replace(model, training=training)
    for job in (trainjob(env, model), pytorchjob(env, model)):
        _, container, pod_sc = _volumes_and_container(job)
        assert container["securityContext"]["runAsNonRoot"] is pod_sc["runAsNonRoot"] is True


# --- Kueue labels ------------------------------------------------------------------------


def test_kueue_labels_reach_jobs_and_the_gpu_step() -> None:
    env, model = _gpu_models("quickstart")[0]
    assert model.training is not None
    training = dataclasses.replace(model.training, queue="team-risk", priority_class="batch")
    want = {"kueue.x-k8s.io/queue-name": "team-risk", "kueue.x-k8s.io/priority-class": "batch"}
    step_model = dataclasses.replace(model, training=training)
    pipeline = build_pipeline(env, step_model)
    platform = pipeline.platform_spec.platforms["kubernetes"].deployment_spec.executors
    labels = dict(platform["exec-train"]["podMetadata"]["labels"])
    assert want.items() <= labels.items()
    launched = dataclasses.replace(training, launched=True)
    job_model = dataclasses.replace(model, training=launched)
    for job in (trainjob(env, job_model), pytorchjob(env, job_model)):
        assert want.items() <= job["metadata"]["labels"].items()
    # without a queue, no Kueue label anywhere (the quickstart has a quota: remove it)
    unqueued = dataclasses.replace(model.training, queue=None, priority_class=None)
    plain = trainjob(env, dataclasses.replace(model, training=unqueued))
    assert not [k for k in plain["metadata"]["labels"] if k.startswith("kueue.x-k8s.io/")]


def test_upstream_runtime_passes_the_cluster_runtime_schema() -> None:
    """The runtime a TrainJob references with `training.runtime: torch-distributed` is a valid
    ClusterTrainingRuntime, and its replicatedJob and container are the `node` the runtime
    patch names (so the webhook check against it above is meaningful)."""
    upstream = yaml_docs(TORCH_DISTRIBUTED.read_bytes())[0]
    jsonschema.validate(upstream, _schema("clustertrainingruntime.v1alpha1.strict.schema.json"))
    assert _runtime_containers(upstream) == {"node": {"node"}}
