"""The plan: every reference resolved, overrides merged, every derived value computed, once.

Back ends read only the plan. A value two back ends share (a pool's node labels and taints,
a model's storage URI, the GPUs a step asks for) is derived once, by compiler/planner.py
(build_plan) and the derivation modules it calls, and nowhere else. Plans are plain frozen
dataclasses so they pickle cheaply to worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from compiler.costs import PoolCost
from compiler.deployment import (
    STANDARD_ON_CPU,
    CanaryPlan,
    DeploymentPlan,
)
from compiler.drift import DriftPlan
from compiler.llm import LlmPlan
from compiler.quota_plan import KueuePlan
from compiler.serving_metrics import MetricsPlan
from compiler.sharing import GPU_RESOURCE as GPU_RESOURCE  # re-exported for the targets
from compiler.sharing import PoolSharing
from compiler.slo import Replicas
from compiler.spec.project import DEFAULT_DRIFT_IMAGE
from compiler.spec.state import StateBackend

POOL_LABEL = "modelkiln.dev/pool"
ACCELERATOR_LABEL = "modelkiln.dev/accelerator"
GPU_TAINT = ("nvidia.com/gpu", "present", "NoSchedule")
AKS_SPOT_TAINT = ("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")
MANAGED_BY = "modelkiln"


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str  # NoSchedule


@dataclass(frozen=True)
class Placement:
    """Where a workload may run: the node selector and tolerations that match one pool."""

    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[Taint, ...] = ()


@dataclass(frozen=True)
class PoolPlan:
    name: str
    accelerator: str
    accelerator_id: str
    machine_type: str
    gpus_per_node: int
    min_nodes: int
    max_nodes: int
    spot: bool
    disk_gb: int | None
    labels: tuple[tuple[str, str], ...]
    taints: tuple[Taint, ...]
    cost: PoolCost
    sharing: PoolSharing | None = None  # MIG or time-slicing (compiler/sharing.py)

    @property
    def placement(self) -> Placement:
        """The selector and tolerations every workload on this pool uses: the pool's label,
        and on GKE the labels its device plugin needs for shared GPUs."""
        extra = self.sharing.node_selector if self.sharing else ()
        return Placement(tuple(sorted(((POOL_LABEL, self.name), *extra))), self.taints)

    @property
    def gpu_resource(self) -> str:
        """The extended resource a workload on this pool asks for (a MIG slice or a GPU)."""
        return self.sharing.resource if self.sharing else GPU_RESOURCE

    @property
    def devices_per_gpu(self) -> int:
        """Devices (MIG slices, time-slicing clients) each GPU offers; 1 without sharing."""
        return self.sharing.per_gpu if self.sharing else 1


@dataclass(frozen=True)
class DataPlan:
    name: str
    uri: str
    format: str
    version: str
    columns: tuple[tuple[str, str, bool], ...]  # (name, type, nullable)
    quality: dict[str, Any]  # minRows, maxNullFraction, ranges, freshnessSeconds

    @property
    def parameter(self) -> str:
        """The pipeline parameter that carries this source's version."""
        return "data_version_" + self.name.replace("-", "_")


@dataclass(frozen=True)
class Secret:
    name: str
    key: str
    env: str


@dataclass(frozen=True)
class TrainingPlan:
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    hyperparameters: tuple[tuple[str, Any], ...]
    env: tuple[tuple[str, str], ...]
    secrets: tuple[Secret, ...]
    pool: PoolPlan | None
    gpus: int  # per node
    nodes: int
    cpu: str | None
    memory: str | None
    strategy: str | None  # ddp | fsdp | deepspeed when nodes > 1
    timeout_seconds: int | None
    retries: int
    schedule: str | None
    # Kueue: the LocalQueue and WorkloadPriorityClass the training workloads name in their
    # kueue.x-k8s.io/queue-name and kueue.x-k8s.io/priority-class labels (None: no Kueue)
    queue: str | None = None
    priority_class: str | None = None
    # compiler/training.py: torchrun processes per node, /dev/shm, how the job is launched
    processes_per_node: int = 1
    shm: bool = False
    shm_size: str | None = None  # sizeLimit of /dev/shm; None: bounded by the pod's memory
    run_as_non_root: bool = False
    launched: bool = False  # a TrainJob / PyTorchJob, not the pipeline's own step
    backend: str = "trainer"  # trainer (TrainJob) | pytorchjob
    runtime: str | None = None  # a ClusterTrainingRuntime; None: modelkiln's TrainingRuntime

    @property
    def placement(self) -> Placement:
        return self.pool.placement if self.pool else Placement()

    @property
    def distributed(self) -> bool:
        return self.nodes > 1


@dataclass(frozen=True)
class Gate:
    metric: str
    min: float | None
    max: float | None


@dataclass(frozen=True)
class EvaluationPlan:
    image: str | None
    command: tuple[str, ...]
    args: tuple[str, ...]
    gates: tuple[Gate, ...]


@dataclass(frozen=True)
class StepImages:
    data_check: str
    gate: str
    register: str
    launcher: str
    install_packages: bool
    drift: str = DEFAULT_DRIFT_IMAGE


# KServe modelFormat names for the frameworks of the language
FORMATS = {
    "pytorch": "pytorch",
    "tensorflow": "tensorflow",
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "onnx": "onnx",
    "huggingface": "huggingface",
    "triton": "triton",
    "custom": "custom",
}


@dataclass(frozen=True)
class ServingPlan:
    format: str
    runtime: str | None
    storage_uri: str
    cpu: str | None
    memory: str | None
    gpus: int  # per replica
    pool: PoolPlan | None
    replicas: Replicas
    # request-level objectives; None for a language model, whose are llm's
    capacity_rps: float | None
    latency_p99_ms: float | None
    availability: float  # percent
    throughput_rps: float | None
    strategy: str  # canary | direct
    canary_percent: int | None
    max_error_rate: float | None
    max_latency_p99_ms: float | None
    metrics: MetricsPlan
    drift: DriftPlan | None
    # KServe deployment mode and autoscaler of the environment (compiler/deployment.py)
    deployment: DeploymentPlan = STANDARD_ON_CPU
    # what spec.predictor serves: the stable version's artifact while a Standard-mode canary
    # serves storage_uri, else storage_uri itself
    stable_storage_uri: str = ""
    canary: CanaryPlan | None = None  # Standard mode only
    # Kueue (Project quotas.servingQueues): the predictor's queue-name and priority labels
    queue: str | None = None
    priority_class: str | None = None
    llm: LlmPlan | None = None  # a language model served by vLLM (compiler/llm)

    @property
    def placement(self) -> Placement:
        return self.pool.placement if self.pool else Placement()

    @property
    def gpu_resource(self) -> str:
        """What each of the replica's `gpus` is: nvidia.com/gpu, or a MIG slice
        nvidia.com/mig-<profile> on a MIG pool with the GPU operator (compiler/sharing.py)."""
        return self.pool.gpu_resource if self.pool else GPU_RESOURCE

    @property
    def error_budget(self) -> float:
        return 1 - self.availability / 100


@dataclass(frozen=True)
class ModelPlan:
    name: str
    owner: str | None
    labels: tuple[tuple[str, str], ...]
    version: str
    framework: str
    data: tuple[DataPlan, ...]
    training: TrainingPlan | None
    evaluation: EvaluationPlan | None
    storage_uri: str
    tracking: tuple[tuple[str, str], ...]  # MLflow environment variables, may be empty
    serving: ServingPlan | None = None


@dataclass(frozen=True)
class RollbackReceiverPlan:
    name: str
    secret_name: str
    secret_key: str
    send_resolved: bool
    labels: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class AlertingPlan:
    """Project-wide alerting settings every environment's rules and routes read."""

    runbook_base_url: str | None = None
    rollback_receiver: RollbackReceiverPlan | None = None


@dataclass(frozen=True)
class PipelinesPlan:
    """Where an environment's pipelines go: store api | kubernetes, KFP host, namespace."""

    store: str = "api"
    host: str | None = None
    namespace: str | None = None


@dataclass(frozen=True)
class EnvironmentPlan:
    name: str
    namespace: str
    provider: str
    region: str
    cluster: str
    cloud_ids: tuple[tuple[str, str], ...]  # project / account / subscription, resourceGroup
    pools: tuple[PoolPlan, ...]
    models: tuple[ModelPlan, ...]
    images: StepImages
    project: str
    serving_mode: str = "standard"  # standard | knative
    host_encryption: bool = False  # azure: host_encryption_enabled on the node pools
    state_backend: StateBackend | None = None  # Terraform's backend (docs/terraform.md)
    alerting: AlertingPlan = field(default_factory=lambda: AlertingPlan())
    pipelines: PipelinesPlan = field(default_factory=lambda: PipelinesPlan())
    kueue: KueuePlan | None = None  # Project quotas in this environment (compiler/quota_plan.py)

    def gpu_range(self) -> tuple[int, int]:
        return (
            sum(p.cost.gpus_min for p in self.pools),
            sum(p.cost.gpus_max for p in self.pools),
        )

    def monthly_cost_range(self) -> tuple[float, float]:
        return (
            sum(p.cost.monthly_min for p in self.pools),
            sum(p.cost.monthly_max for p in self.pools),
        )


@dataclass(frozen=True)
class ArgoCdPlan:
    repo_url: str
    target_revision: str
    path_prefix: str
    namespace: str
    project: str
    name_prefix: str
    destinations: tuple[tuple[str, str], ...]
    prune: bool
    self_heal: bool


@dataclass(frozen=True)
class Plan:
    project: str
    output: str
    environments: tuple[EnvironmentPlan, ...] = field(default_factory=tuple)
    argocd: ArgoCdPlan | None = None
