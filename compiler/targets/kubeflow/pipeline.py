"""One Model in one environment -> a KFP v2 pipeline, compiled by the real kfp compiler.

data checks -> train (or launch a TrainJob / PyTorchJob) -> evaluate -> gate -> register.
"""

from __future__ import annotations

import inspect
import json
from collections import defaultdict
from typing import Any

from google.protobuf import json_format
from kfp import dsl
from kfp.compiler import pipeline_spec_builder as builder
from kfp.dsl.types import type_utils

from compiler.plan import GPU_RESOURCE, MANAGED_BY, EnvironmentPlan, ModelPlan, TrainingPlan
from compiler.targets import fastyaml, kubernetes, yamlout
from compiler.targets.kubeflow import components, kfp_patches
from compiler.targets.kubeflow.kfp_import import executor_config_pb2
from compiler.targets.kubeflow.parameters import SOURCE_COMMIT, hp_parameter, pipeline_parameters
from compiler.targets.training import pod
from compiler.targets.training.trainjob import launched_job

k8s_pb2 = executor_config_pb2()  # without kfp.kubernetes' initialiser (see kfp_import)


def _kubernetes(
    task: Any,
    env: EnvironmentPlan,
    model: ModelPlan,
    *,
    training: TrainingPlan | None = None,
    secrets: bool = False,
) -> Any:
    """The task's Kubernetes settings (kfp-kubernetes' KubernetesExecutorConfig), built in
    one message: pod labels, and for training its pool's node selector and tolerations, the
    active deadline, /dev/shm, runAsNonRoot and Kueue's labels; the Model's secrets as
    environment variables.

    Fields are set exactly as kfp.kubernetes' add_pod_label, add_node_selector,
    add_toleration, set_timeout, empty_dir_mount, set_security_context and use_secret_as_env
    set them (a test compares); those helpers re-parse the whole config on every call, which
    cost a fifth of the compile of a large repository.
    """
    config = k8s_pb2.KubernetesExecutorConfig()
    labels = config.pod_metadata.labels
    labels["app.kubernetes.io/managed-by"] = MANAGED_BY
    labels["modelkiln.dev/environment"] = env.name
    labels["modelkiln.dev/model"] = model.name
    if training is not None:
        placement = training.placement
        for key, value in placement.node_selector:
            config.node_selector.labels[key] = value
        for taint in placement.tolerations:
            config.tolerations.append(
                k8s_pb2.Toleration(
                    key=taint.key, operator="Equal", value=taint.value, effect=taint.effect
                )
            )
        if training.timeout_seconds:
            config.active_deadline_seconds = training.timeout_seconds
        _training_pod(config, training)
    if secrets and model.training is not None:
        by_secret: dict[str, dict[str, str]] = defaultdict(dict)
        for secret in model.training.secrets:
            by_secret[secret.name][secret.key] = secret.env
        for name, mapping in sorted(by_secret.items()):
            entry = k8s_pb2.SecretAsEnv(
                key_to_env=[
                    k8s_pb2.SecretAsEnv.SecretKeyToEnvMap(secret_key=k, env_var=v)
                    for k, v in mapping.items()
                ],
                optional=False,
                secret_name=name,
            )
            entry.secret_name_parameter.runtime_value.constant.string_value = name
            config.secret_as_env.append(entry)
    task.platform_config["kubernetes"] = json_format.MessageToDict(config)
    return task.set_caching_options(False)


def _training_pod(config: Any, training: TrainingPlan) -> None:
    """/dev/shm, runAsNonRoot and Kueue's labels of the train step's pod. The config has no
    field for the rest of the hardening: the KFP backend adds no privilege escalation, drop
    ALL and seccomp RuntimeDefault to every task's user container itself (kubeflow/pipelines
    2.17.0 backend/src/v2/compiler/argocompiler/security_context.go)."""
    if training.shm:
        mount = k8s_pb2.EmptyDirMount(
            volume_name=pod.SHM_VOLUME, mount_path=pod.SHM_PATH, medium="Memory"
        )
        if training.shm_size:
            mount.size_limit = training.shm_size
        config.empty_dir_mounts.append(mount)
    if training.run_as_non_root:
        config.security_context.run_as_non_root = True
    if training.gpus:
        for key, value in kubernetes.kueue_labels(training.queue, training.priority_class).items():
            config.pod_metadata.labels[key] = value


def _environment(task: Any, env: EnvironmentPlan, model: ModelPlan, user: bool) -> None:
    assert model.training is not None
    values = dict(model.tracking)
    values |= {
        "MODELKILN_ENVIRONMENT": env.name,
        "MODELKILN_MODEL": model.name,
        "MODELKILN_MODEL_VERSION": model.version,
        "MODELKILN_STORAGE_URI": model.storage_uri,
    }
    if user:
        values |= dict(model.training.env)
        # torchrun reads PET_<OPTION> as its options' defaults (torch/distributed/argparse_util.py):
        # one process per GPU on this one node (docs/training.md, "The torchrun contract")
        values["PET_NNODES"] = "1"
        values["PET_NPROC_PER_NODE"] = str(model.training.processes_per_node)
    for key, value in sorted(values.items()):
        task.set_env_variable(key, value)


def _train_task(env: EnvironmentPlan, model: ModelPlan, p: dict[str, Any], data_json: str) -> Any:
    training = model.training
    assert training is not None
    hps = [(k, hp_parameter(k)) for k, _ in training.hyperparameters]
    if training.launched:
        hp_json = (
            "{"
            + ", ".join(
                f'"{k}": ' + (f'"{p[ident]}"' if isinstance(v, str) else str(p[ident]))
                for (k, v), (_, ident) in zip(training.hyperparameters, hps, strict=True)
            )
            + "}"
        )
        _, job = launched_job(env, model)
        task = components.builtin("launch_training_job", env.images)(
            manifest=json.dumps(job, sort_keys=True),
            hyperparameters=hp_json,
            storage_uri=model.storage_uri,
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            timeout_seconds=training.timeout_seconds or 7 * 86400,
        )
        return _kubernetes(task.set_display_name(f"train ({job['kind']})"), env, model)

    inputs = [
        (ident, components.param_type(v))
        for (_, v), (_, ident) in zip(training.hyperparameters, hps, strict=True)
    ]
    inputs += [(d.parameter, str) for d in model.data]
    inputs.append((SOURCE_COMMIT, str))

    def hp_args(bound: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for key, ident in hps:
            out += [f"--{key}", bound[ident]]
        return out

    component = components.container(
        name="train",
        image=training.image,
        command=training.command,
        args=training.args,
        inputs=inputs,
        model_io="out",
        extra_args=hp_args,
        data_versions=[(d.name, d.parameter) for d in model.data],
    )
    task = component(**{name: p[name] for name, _ in inputs})
    task.set_display_name("train")
    if training.cpu:
        task.set_cpu_request(training.cpu)
    if training.memory:
        task.set_memory_request(training.memory).set_memory_limit(training.memory)
    if training.gpus:
        task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(training.gpus)
    _environment(task, env, model, user=True)
    return _kubernetes(task, env, model, training=training, secrets=True)


def build_pipeline(env: EnvironmentPlan, model: ModelPlan) -> Any:
    """The pipeline as a kfp graph component, built from the plan as data."""
    training = model.training
    assert training is not None
    params = pipeline_parameters(env, model)
    names = [n for n, _ in params]

    def body(*values: Any) -> None:
        p = dict(zip(names, values, strict=True))
        versions = {d.name: str(p[d.parameter]) for d in model.data}
        data_json = json.dumps(versions, sort_keys=True)
        checks = []
        for d in model.data:
            contract = {"columns": [list(c) for c in d.columns], "quality": d.quality}
            check = components.builtin("check_data", env.images)(
                uri=d.uri,
                data_format=d.format,
                version=p[d.parameter],
                contract=json.dumps(contract, sort_keys=True),
            )
            checks.append(_kubernetes(check.set_display_name(f"data-check-{d.name}"), env, model))
        train = _train_task(env, model, p, data_json)
        for check in checks:
            train.after(check)
        if training.retries:
            train.set_retry(
                num_retries=training.retries,
                backoff_duration="60s",
                backoff_factor=2.0,
                backoff_max_duration="3600s",
            )
        metrics = train.outputs["metrics"]
        last = train
        evaluation = model.evaluation
        if evaluation is not None and evaluation.image:
            component = components.container(
                name="evaluate",
                image=evaluation.image,
                command=evaluation.command,
                args=evaluation.args,
                inputs=[(d.parameter, str) for d in model.data] + [(SOURCE_COMMIT, str)],
                model_io="in",
                extra_args=lambda bound: [],
                data_versions=[(d.name, d.parameter) for d in model.data],
            )
            evaluate = component(
                model=train.outputs["model"],
                **{d.parameter: p[d.parameter] for d in model.data},
                source_commit=p[SOURCE_COMMIT],
            )
            _environment(evaluate.set_display_name("evaluate"), env, model, user=False)
            _kubernetes(evaluate, env, model, secrets=True)
            metrics, last = evaluate.outputs["metrics"], evaluate
        if evaluation is not None and evaluation.gates:
            gates = [{"metric": g.metric, "min": g.min, "max": g.max} for g in evaluation.gates]
            gate = components.builtin("check_gates", env.images)(
                metrics=metrics, gates=json.dumps(gates, sort_keys=True)
            )
            last = _kubernetes(gate.set_display_name("gate"), env, model)
        lineage = {
            "environment": env.name,
            "framework": model.framework,
            "model": model.name,
            "owner": model.owner,
            "pipeline": f"{model.name}-{env.name}",
            "sourceCommit": str(p[SOURCE_COMMIT]),
            "storageUri": model.storage_uri,
            "trainingImage": training.image,
            "version": model.version,
        }
        register = components.builtin("register_model", env.images)(
            storage_uri=model.storage_uri,
            lineage=json.dumps(lineage, sort_keys=True),
            data_versions=data_json,
            metrics=metrics,
        )
        _kubernetes(register.set_display_name("register").after(last), env, model)

    signature = [
        inspect.Parameter(
            n,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=v,
            annotation=components.param_type(v),
        )
        for n, v in params
    ]
    body.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    body.__annotations__ = {s.name: s.annotation for s in signature}
    body.__name__ = model.name.replace("-", "_")
    description = (
        f"modelkiln: {model.name} {model.version} in {env.name} "
        f"(data checks, train, evaluate, gate, register)"
    )
    return dsl.pipeline(name=f"{model.name}-{env.name}", description=description)(body)


def compile_pipeline(env: EnvironmentPlan, model: ModelPlan) -> bytes:
    """The pipeline's KFP IR YAML: the PipelineSpec and PlatformSpec that the kfp compiler
    builds, written the way kfp.compiler.Compiler.compile writes them (its header comments,
    sorted keys, one document per spec) but with fastyaml instead of PyYAML's pure-Python
    writer, the largest cost when rendering thousands of pipelines. A test checks that a
    reader gets the same documents from both."""
    with kfp_patches.applied():  # kfp's task setters made cheap, for this pipeline only
        pipeline = build_pipeline(env, model)
    with type_utils.TypeCheckManager(enable=True):
        spec = builder.modify_pipeline_spec_with_override(
            pipeline_spec=pipeline.pipeline_spec,
            pipeline_name=None,
            pipeline_parameters=None,
            pipeline_display_name=None,
        )
    spec_dict = json_format.MessageToDict(spec)
    header = builder.extract_comments_from_pipeline_spec(spec_dict, pipeline.description)
    documents = [spec_dict]
    if len(pipeline.platform_spec.platforms) > 0:
        documents.append(json_format.MessageToDict(pipeline.platform_spec))
    # kfp writes parameter defaults into its header as they are; a line break in one (a
    # string hyperparameter) would end the comment, so each line is made a comment line
    return (yamlout.comment_lines(str(header)) + fastyaml.dump_all(documents)).encode()
