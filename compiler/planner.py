"""Builds the plan (compiler/plan.py) from valid specs: every reference resolved, overrides
merged, every derived value computed, once."""

from __future__ import annotations

from typing import Any

from compiler import catalog
from compiler import training as training_values
from compiler.costs import pool_cost
from compiler.deployment import (
    running_canary_percent,
    serving_rollout,
    storage_uri,
)
from compiler.drift import drift_plan
from compiler.llm.planning import llm_plan
from compiler.plan import (
    ACCELERATOR_LABEL,
    AKS_SPOT_TAINT,
    FORMATS,
    GPU_TAINT,
    POOL_LABEL,
    AlertingPlan,
    ArgoCdPlan,
    DataPlan,
    EnvironmentPlan,
    EvaluationPlan,
    Gate,
    ModelPlan,
    PipelinesPlan,
    Plan,
    PoolPlan,
    RollbackReceiverPlan,
    Secret,
    ServingPlan,
    StepImages,
    Taint,
    TrainingPlan,
)
from compiler.quota_plan import kueue_plan, with_queues
from compiler.serving_metrics import resolve
from compiler.sharing import pool_sharing
from compiler.spec.datasource import DataSource
from compiler.spec.model import ModelSpec
from compiler.spec.project import Environment, Monitoring
from compiler.spec.types import duration_seconds
from compiler.validate.context import Entry, Specs


def _pool_plan(entry: Any, env: Environment, overrides: Any) -> PoolPlan | None:
    spec = entry.obj.spec
    offer = catalog.offering(spec.accelerator, env.cloud.provider)
    if offer is None:  # validation refuses this; a plan is only built from valid specs
        return None
    machine = spec.machine_type or offer.default_machine_type(spec.gpus_per_node)
    cost = pool_cost(
        entry.name,
        spec.accelerator,
        spec.gpus_per_node,
        spec.min_nodes,
        spec.max_nodes,
        env.cloud.provider,
        overrides,
    )
    assert machine is not None and cost is not None
    labels: tuple[tuple[str, str], ...] = (
        (ACCELERATOR_LABEL, spec.accelerator),
        (POOL_LABEL, entry.name),
    )
    sharing = pool_sharing(spec.accelerator, spec.sharing, env.cloud.provider)
    if sharing is not None:  # what the GPU operator reads on EKS and AKS nodes
        labels = tuple(sorted((*labels, *sharing.node_labels)))
    taints: tuple[Taint, ...] = (Taint(*GPU_TAINT), Taint(POOL_LABEL, entry.name, "NoSchedule"))
    if spec.spot and env.cloud.provider == "azure":
        # AKS puts this label and taint on every Spot pool whatever Terraform says: declare
        # them (as azurerm asks), so that workloads on the pool get the toleration.
        key, value, effect = AKS_SPOT_TAINT
        labels = tuple(sorted((*labels, (key, value))))
        taints += (Taint(key, value, effect),)
    return PoolPlan(
        name=entry.name,
        accelerator=spec.accelerator,
        accelerator_id=offer.accelerator_id,
        machine_type=machine,
        gpus_per_node=spec.gpus_per_node,
        min_nodes=spec.min_nodes,
        max_nodes=spec.max_nodes,
        spot=spec.spot,
        disk_gb=spec.disk_gb,
        labels=labels,
        taints=taints,
        cost=cost,
        sharing=sharing,
    )


def _data_plan(source: Entry[DataSource], version: str | None) -> DataPlan:
    spec = source.obj.spec
    quality: dict[str, Any] = {}
    if spec.quality is not None:
        q = spec.quality
        if q.min_rows is not None:
            quality["minRows"] = q.min_rows
        if q.max_null_fraction:
            quality["maxNullFraction"] = dict(sorted(q.max_null_fraction.items()))
        if q.ranges:
            quality["ranges"] = {k: list(v) for k, v in sorted(q.ranges.items())}
        if q.freshness is not None:
            quality["freshnessSeconds"] = int(duration_seconds(q.freshness))
    columns = tuple((c.name, c.type, c.nullable) for c in spec.columns or [])
    return DataPlan(source.name, spec.uri, spec.format, version or spec.version, columns, quality)


def _model_plan(
    specs: Specs,
    name: str,
    spec: ModelSpec,
    env: Environment,
    pools: dict[str, PoolPlan],
    sources: dict[tuple[str, str | None], DataPlan],
) -> ModelPlan:
    assert specs.project is not None
    project = specs.project.obj
    entry = specs.models[name]
    training = None
    if spec.training is not None:
        t = spec.training
        pool = pools.get(t.resources.pool) if t.resources.pool else None
        gpus = specs.gpus_of(t.resources)
        setting = project.spec.training
        training = TrainingPlan(
            image=t.image,
            command=tuple(t.command or ()),
            args=tuple(t.args or ()),
            hyperparameters=tuple(sorted(t.hyperparameters.items())),
            env=tuple(sorted(t.env.items())),
            secrets=tuple(Secret(s.name, s.key, s.env) for s in t.secrets),
            pool=pool,
            gpus=gpus,
            nodes=t.resources.nodes,
            cpu=t.resources.cpu,
            memory=t.resources.memory,
            strategy=t.distributed.strategy if t.distributed else None,
            timeout_seconds=int(duration_seconds(t.timeout)) if t.timeout else None,
            retries=t.retries,
            schedule=t.schedule,
            processes_per_node=training_values.processes_per_node(t, gpus),
            shm=training_values.has_shm(t, gpus),
            shm_size=training_values.shm_size(t, setting),
            run_as_non_root=t.run_as_non_root,
            launched=training_values.launched(setting, t.resources.nodes, gpus),
            backend=setting.backend,
            runtime=setting.runtime,
        )
    evaluation = None
    if spec.evaluation is not None:
        e = spec.evaluation
        evaluation = EvaluationPlan(
            image=e.image,
            command=tuple(e.command or ()),
            args=tuple(e.args or ()),
            gates=tuple(Gate(g.metric, g.min, g.max) for g in e.gates),
        )
    for d in spec.data:  # a source's plan is built once per version: Models share sources
        if (d.source, d.version) not in sources:
            sources[d.source, d.version] = _data_plan(specs.datasources[d.source], d.version)
    data = tuple(sources[d.source, d.version] for d in spec.data)
    uri = storage_uri(spec, project.spec.registry, name)
    tracking: tuple[tuple[str, str], ...] = ()
    mlflow = project.spec.tracking.mlflow
    if mlflow is not None:
        experiment = mlflow.experiment_name.replace("{model}", name).replace(
            "{environment}", env.name
        )
        tracking = (
            ("MLFLOW_EXPERIMENT_NAME", experiment),
            ("MLFLOW_TRACKING_URI", mlflow.tracking_uri),
        )
    return ModelPlan(
        name=name,
        owner=entry.obj.metadata.owner,
        labels=tuple(sorted(entry.obj.metadata.labels.items())),
        version=spec.version,
        framework=spec.framework,
        data=data,
        training=training,
        evaluation=evaluation,
        storage_uri=uri,
        tracking=tracking,
        serving=_serving_plan(specs, name, spec, env, pools, data, uri),
    )


def _serving_plan(
    specs: Specs,
    name: str,
    spec: ModelSpec,
    env: Environment,
    pools: dict[str, PoolPlan],
    data: tuple[DataPlan, ...],
    uri: str,
) -> ServingPlan | None:
    serving = spec.serving
    if serving is None:
        return None
    assert specs.project is not None
    monitoring = specs.project.obj.spec.monitoring
    metrics = resolve(env, name)
    reference = data[0] if data else None
    drift = drift_plan(monitoring, spec, name, env.namespace, env.name, uri, reference)
    rollout = serving.rollout
    rollback = rollout.rollback
    serve = serving_rollout(spec, env, specs.project.obj.spec.registry, name, uri)
    pool = pools.get(serving.resources.pool) if serving.resources.pool else None
    gpus = specs.gpus_of(serving.resources)
    llm = llm_plan(serving.llm, env, pool, gpus, name) if serving.llm is not None else None
    slo = serving.slo
    return ServingPlan(
        format=serving.format or FORMATS[spec.framework],
        runtime=serving.runtime,
        storage_uri=uri,
        cpu=serving.resources.cpu,
        memory=serving.resources.memory,
        gpus=gpus,
        pool=pool,
        replicas=serve.replicas,
        capacity_rps=serving.capacity_rps,
        latency_p99_ms=slo.latency_p99_ms if slo else None,
        availability=llm.availability if llm else slo.availability if slo else 0,
        throughput_rps=slo.throughput_rps if slo else None,
        strategy=rollout.strategy,
        canary_percent=running_canary_percent(spec),
        max_error_rate=rollback.max_error_rate if rollback else None,
        max_latency_p99_ms=rollback.max_latency_p99_ms if rollback else None,
        metrics=metrics,
        drift=drift,
        deployment=serve.deployment,
        stable_storage_uri=serve.stable_storage_uri,
        canary=serve.canary,
        llm=llm,
    )


def _alerting_plan(monitoring: Monitoring) -> AlertingPlan:
    r = monitoring.rollback_receiver
    receiver = None
    if r is not None:
        receiver = RollbackReceiverPlan(
            name=r.name,
            secret_name=r.url_secret.name,
            secret_key=r.url_secret.key,
            send_resolved=r.send_resolved,
            labels=tuple(sorted(r.labels.items())),
        )
    base = monitoring.runbook_base_url
    return AlertingPlan(base.rstrip("/") if base else None, receiver)


def build_plan(specs: Specs, environments: list[str] | None = None) -> Plan:
    """The plan of valid specs (validation must have passed), for the named environments."""
    assert specs.project is not None
    project = specs.project.obj
    images = project.spec.pipelines.images
    steps = StepImages(
        images.data_check,
        images.gate,
        images.register_step,
        images.launcher,
        project.spec.pipelines.install_packages,
        images.drift,
    )
    alerting = _alerting_plan(project.spec.monitoring)
    env_plans = []
    sources: dict[tuple[str, str | None], DataPlan] = {}
    for env in project.spec.environments:
        if environments and env.name not in environments:
            continue
        pools: dict[str, PoolPlan] = {}
        for pool_entry in sorted(specs.pools.values(), key=lambda e: e.name):
            if env.name in specs.pool_environments(pool_entry):
                plan = _pool_plan(pool_entry, env, project.spec.gpu_prices)
                if plan is not None:
                    pools[plan.name] = plan
        views = sorted(specs.views_in(env.name), key=lambda v: v.name)
        models = tuple(_model_plan(specs, v.name, v.spec, env, pools, sources) for v in views)
        kueue = kueue_plan(project.spec.quotas, env.name, env.cloud.provider, pools)
        models = with_queues(models, kueue, env.serving.mode)
        cloud = env.cloud
        ids = {
            "project": cloud.project,
            "account": cloud.account,
            "subscription": cloud.subscription,
            "resourceGroup": cloud.resource_group,
        }
        env_plans.append(
            EnvironmentPlan(
                name=env.name,
                namespace=env.namespace,
                provider=cloud.provider,
                region=cloud.region,
                cluster=env.cluster,
                cloud_ids=tuple((k, v) for k, v in sorted(ids.items()) if v is not None),
                pools=tuple(pools.values()),
                models=models,
                images=steps,
                project=project.metadata.name,
                serving_mode=env.serving.mode,
                host_encryption=cloud.host_encryption,
                state_backend=env.terraform.backend,
                alerting=alerting,
                pipelines=PipelinesPlan(
                    project.spec.pipelines.store, env.pipelines.host, env.pipelines.namespace
                ),
                kueue=kueue,
            )
        )
    argocd = None
    a = project.spec.gitops.argocd
    if a is not None:
        prefix = a.path_prefix.strip("/")
        argocd = ArgoCdPlan(
            repo_url=a.repo_url,
            target_revision=a.target_revision,
            path_prefix=prefix + "/" if prefix else "",
            namespace=a.namespace,
            project=a.project,
            name_prefix=a.name_prefix,
            destinations=tuple(sorted(a.destinations.items())),
            prune=a.prune,
            self_heal=a.self_heal,
        )
    return Plan(project.metadata.name, project.spec.output, tuple(env_plans), argocd)
