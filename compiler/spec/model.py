"""kind: Model: training, evaluation, serving and monitoring of one model."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from compiler.spec.base import Metadata, Strict
from compiler.spec.llm import Llm
from compiler.spec.storage import ArtifactUri
from compiler.spec.types import (
    Cron,
    Duration,
    EnvVarName,
    Line,
    Name,
    Quantity,
    SemVer,
)

Framework = Literal[
    "pytorch",
    "tensorflow",
    "sklearn",
    "xgboost",
    "lightgbm",
    "onnx",
    "huggingface",
    "triton",
    "custom",
]
# KFP carries a numeric pipeline parameter as a protobuf double (Value.number_value): an
# integer beyond 2**53 would reach the run changed, and one beyond ~1e308 crashes kfp.
EXACT_INT_LIMIT = 2**53


def _exact_in_a_double(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > EXACT_INT_LIMIT:
        raise PydanticCustomError(
            "MK210",
            "hyperparameter integer of {digits} digits is beyond ±2^53, which Kubeflow "
            "Pipelines cannot pass exactly (it carries numbers as doubles)",
            {"digits": len(str(abs(value))), "hint": "quote it to pass it as a string"},
        )
    return value


MAX_RPS = 1e9  # a billion requests per second: beyond any one model's peak


HyperValue = Annotated[int | float | str | bool, BeforeValidator(_exact_in_a_double)]


class DataRef(Strict):
    source: Line = Field(min_length=1, description="A DataSource name.")
    version: Line | None = Field(default=None, min_length=1, description="Overrides the pin.")


class SecretRef(Strict):
    name: Name = Field(description="Kubernetes Secret name.")
    key: Line = Field(min_length=1, description="Key inside the Secret.")
    env: EnvVarName = Field(description="Environment variable the value is exposed as.")


class TrainingResources(Strict):
    pool: Line | None = Field(default=None, description="A GpuPool name; absent: CPU nodes.")
    gpus: int | None = Field(
        default=None, ge=0, le=16, description="GPUs per node; default: the pool's gpusPerNode."
    )
    nodes: int = Field(default=1, ge=1, le=1000, description="> 1 means distributed training.")
    cpu: Quantity | None = None
    memory: Quantity | None = None
    shm_size: Quantity | None = Field(
        default=None,
        description="Size of the memory-backed /dev/shm of GPU training pods; default the "
        "Project's training.shmFraction of memory.",
    )


class Distributed(Strict):
    strategy: Literal["ddp", "fsdp", "deepspeed"]


class Training(Strict):
    image: Line = Field(min_length=1)
    command: list[str] | None = None
    args: list[str] | None = None
    hyperparameters: dict[str, HyperValue] = Field(default_factory=dict)
    env: dict[EnvVarName, str] = Field(default_factory=dict)
    secrets: list[SecretRef] = Field(default_factory=list)
    resources: TrainingResources = Field(default_factory=TrainingResources)
    distributed: Distributed | None = None
    timeout: Duration | None = None
    retries: int = Field(default=0, ge=0, le=10)
    schedule: Cron | None = Field(default=None, description="Cron for recurring retraining.")
    processes_per_node: int | None = Field(
        default=None,
        ge=1,
        le=128,
        description="Training processes torchrun starts per node (PET_NPROC_PER_NODE); default "
        "the GPUs per node, 1 on CPU nodes.",
    )
    run_as_non_root: bool = Field(
        default=False,
        description="Refuse to start the training container as root (runAsNonRoot); off by "
        "default because many training images run as root.",
    )


class Gate(Strict):
    metric: Line = Field(min_length=1)
    min: float | None = None
    max: float | None = None


class Evaluation(Strict):
    image: Line | None = Field(
        default=None, description="Writes the metrics; absent: gates read training's metrics."
    )
    command: list[str] | None = None
    args: list[str] | None = None
    gates: list[Gate] = Field(default_factory=list)


class ServingResources(Strict):
    pool: Line | None = Field(default=None, description="A GpuPool name; absent: CPU nodes.")
    gpus: int | None = Field(
        default=None, ge=0, le=16, description="GPUs per replica; default 1 with a pool."
    )
    cpu: Quantity | None = None
    memory: Quantity | None = None
    mig_profile: Line | None = Field(
        default=None,
        description="A MIG slice of the pool's GPUs (e.g. 1g.10gb) instead of whole GPUs; "
        "the pool must declare this profile (GpuPool sharing.mig).",
    )


class Slo(Strict):
    latency_p99_ms: float = Field(gt=0, description="p99 latency objective in milliseconds.")
    availability: float = Field(gt=0, lt=100, description="Percent over a 30-day window.")
    # bounded so that replica counts stay the int32 counts Kubernetes takes
    throughput_rps: float = Field(gt=0, le=MAX_RPS, description="Peak load to provision for.")


class Autoscaling(Strict):
    min_replicas: int = Field(ge=0, le=1000)
    max_replicas: int = Field(ge=1, le=1000)


class Rollback(Strict):
    max_error_rate: float | None = Field(default=None, gt=0, le=1)
    max_latency_p99_ms: float | None = Field(default=None, gt=0)


class Rollout(Strict):
    strategy: Literal["canary", "direct"] = "direct"
    canary_percent: int | None = Field(default=None, description="1..99; default 10 for canary.")
    rollback: Rollback | None = None
    stable_version: SemVer | None = Field(
        default=None,
        description="The version serving now: spec.predictor serves it (standard mode) or "
        "the last rolled-out revision keeps the traffic (knative) while a canary serves "
        "version; equal to version, nothing is canaried.",
    )
    stable_storage_uri: ArtifactUri | None = Field(
        default=None,
        description="The stable version's artifact; default <registry>/<model>/<stableVersion>. "
        "Required when serving.storageUri is given.",
    )


class Serving(Strict):
    format: Line | None = Field(default=None, description="KServe modelFormat; default: framework.")
    runtime: Line | None = None
    storage_uri: ArtifactUri | None = None
    resources: ServingResources = Field(default_factory=ServingResources)
    capacity_rps: float | None = Field(
        default=None,
        gt=0,
        le=MAX_RPS,
        description="Throughput of one replica at the SLO latency; required unless llm.",
    )
    slo: Slo | None = Field(default=None, description="Required unless llm.")
    llm: Llm | None = Field(
        default=None,
        description="A language model served by vLLM, with token SLOs (docs/llm.md); "
        "replaces capacityRps and slo.",
    )
    autoscaling: Autoscaling | None = None
    rollout: Rollout = Field(default_factory=Rollout)

    @model_validator(mode="after")
    def _request_or_token_slo(self) -> Serving:
        if self.llm is None and (self.capacity_rps is None or self.slo is None):
            given = (("capacityRps", self.capacity_rps), ("slo", self.slo))
            missing = [name for name, value in given if value is None]
            raise PydanticCustomError(
                "MK242",
                "serving needs {missing}",
                {
                    "missing": " and ".join(f"'{m}'" for m in missing),
                    "at_key": True,
                    "hint": "give capacityRps and slo {latencyP99Ms, availability, "
                    "throughputRps}, or describe a language model under llm",
                },
            )
        if self.llm is not None and (self.capacity_rps is not None or self.slo is not None):
            raise PydanticCustomError(
                "MK243",
                "an LLM's objectives are serving.llm.slo; serving.capacityRps and serving.slo "
                "do not apply",
                {
                    "field": "capacityRps" if self.capacity_rps is not None else "slo",
                    "hint": "move the objectives to llm.slo (ttftP95Ms, tpotP95Ms, availability, "
                    "tokensPerSecond) and remove capacityRps and slo",
                },
            )
        return self


class DriftResources(Strict):
    cpu: Quantity = "500m"
    memory: Quantity = Field(default="1Gi", description="Request and limit.")


class Drift(Strict):
    features: list[Line] = Field(min_length=1)
    method: Literal["psi", "ks", "wasserstein"]
    threshold: float = Field(gt=0)
    schedule: Cron
    window: Duration = Field(
        default="24h", description="Score the requests logged this long before each run."
    )
    columns: list[str] | None = Field(
        default=None,
        description="Names of the request's positional columns, in order, for requests that "
        "send rows as lists (V1 instances of lists, a V2 tensor of shape [rows, columns]).",
    )
    resources: DriftResources = Field(default_factory=DriftResources)


class Monitoring(Strict):
    drift: Drift | None = None


class ModelSpec(Strict):
    version: SemVer
    framework: Framework
    data: list[DataRef] = Field(default_factory=list)
    training: Training | None = None
    evaluation: Evaluation | None = None
    serving: Serving | None = None
    monitoring: Monitoring | None = None
    environments: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-environment overrides, merged over this spec as a JSON merge patch "
        "(RFC 7386): mappings merge key by key, null removes a key, lists and scalars "
        "replace.",
    )


class Model(Strict):
    api_version: Literal["modelkiln.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["Model"]
    metadata: Metadata
    spec: ModelSpec
