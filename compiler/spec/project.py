"""kind: Project: environments, clouds, output folder and policies (exactly one)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from compiler import __version__
from compiler.spec.base import Metadata, Strict, fields_problem
from compiler.spec.gpupool import Accelerator
from compiler.spec.llm import EnvironmentLlm
from compiler.spec.metrics import RollbackReceiver, ServingMetrics
from compiler.spec.quotas import Quotas
from compiler.spec.state import EnvironmentTerraform
from compiler.spec.storage import ArtifactRoot
from compiler.spec.training import ProjectTraining
from compiler.spec.types import Line, LineChecked, Name, check_region, uri_checker

Provider = Literal["gcp", "aws", "azure"]

# The identity fields each provider needs; the others are refused so a copy-paste is caught.
PROVIDER_FIELDS: dict[str, tuple[str, ...]] = {
    "gcp": ("project",),
    "aws": ("account",),
    "azure": ("subscription", "resourceGroup"),
}


class Cloud(Strict):
    provider: Provider
    region: Line = Field(min_length=1)
    project: Line | None = Field(default=None, description="GCP project id (gcp).")
    account: Line | None = Field(default=None, description="AWS account id (aws).")
    subscription: Line | None = Field(default=None, description="Azure subscription id.")
    resource_group: Line | None = Field(default=None, description="Azure resource group.")
    host_encryption: bool = Field(
        default=False,
        description="Azure: the GPU node pools encrypt their VM host (temp disks, OS and data "
        "disk caches; host_encryption_enabled). Needs the subscription feature "
        "Microsoft.Compute/EncryptionAtHost registered and a VM size that supports it; "
        "changing it replaces the node pools (docs/terraform.md).",
    )

    @field_validator("region")
    @classmethod
    def _region(cls, value: str, info: ValidationInfo) -> str:
        provider = info.data.get("provider")
        return check_region(provider, value) if isinstance(provider, str) else value

    @model_validator(mode="after")
    def _provider_fields(self) -> Cloud:
        given = {
            "project": self.project,
            "account": self.account,
            "subscription": self.subscription,
            "resourceGroup": self.resource_group,
        }
        needed = PROVIDER_FIELDS[self.provider]
        missing = [f for f in needed if not given[f]]
        foreign = [f for f, v in given.items() if v is not None and f not in needed]
        if "host_encryption" in self.model_fields_set and self.provider != "azure":
            foreign.append("hostEncryption")  # an AKS setting: written elsewhere, a copy-paste
        problem = fields_problem(missing, foreign)
        if problem is not None:
            raise PydanticCustomError(
                "MK212",
                "cloud provider '{provider}' {problem}",
                {"provider": self.provider, "problem": problem},
            )
        return self


HttpAddress = Annotated[str, uri_checker(("http://", "https://"))]


class EnvironmentServing(Strict):
    """How KServe serves in this environment, and where its SLOs and autoscalers read their
    metrics (docs/serving.md)."""

    mode: Literal["standard", "knative"] = Field(
        default="standard",
        description="KServe deployment mode, always written as the "
        "serving.kserve.io/deploymentMode annotation: standard (Deployments, HPA or KEDA "
        "autoscaling, spec.canary) or knative (Knative revisions, request-based autoscaling, "
        "canaryTrafficPercent, scale to zero).",
    )
    metrics: ServingMetrics = Field(default_factory=ServingMetrics)
    prometheus: HttpAddress | None = Field(
        default=None,
        description="Standard mode: the Prometheus server KEDA asks for each predictor's "
        "request rate (the counter of metrics.requests). Absent: the predictors scale on CPU "
        "utilisation (HPA).",
    )
    llm: EnvironmentLlm = Field(
        default_factory=EnvironmentLlm,
        description="How language models (Model serving.llm) are served here (docs/llm.md).",
    )


class EnvironmentPipelines(Strict):
    """Where this environment's Kubeflow Pipelines are (docs/gitops.md, Deploying pipelines)."""

    host: HttpAddress | None = Field(
        default=None,
        description="The KFP API endpoint `modelkiln deploy pipelines` talks to (kfp.Client's "
        "host); --host overrides it.",
    )
    namespace: Name | None = Field(
        default=None,
        description="Namespace of the environment's pipelines in KFP: the Kubernetes-native "
        "Pipeline objects go there (default kubeflow), and the deploy step passes it for "
        "pipelines and experiments in multi-user KFP (default: none, shared pipelines).",
    )


class Environment(Strict):
    name: Name
    namespace: Name = Field(description="Kubernetes namespace of this environment's workloads.")
    cloud: Cloud
    cluster: Line = Field(min_length=1, description="The existing cluster GPU pools attach to.")
    serving: EnvironmentServing = Field(default_factory=EnvironmentServing)
    terraform: EnvironmentTerraform = Field(default_factory=EnvironmentTerraform)
    pipelines: EnvironmentPipelines = Field(default_factory=EnvironmentPipelines)


class Policies(Strict):
    max_gpus_per_model: int | None = Field(default=None, ge=1)
    require_canary_in: list[Line] = Field(default_factory=list)
    require_pinned_images: bool = False
    max_monthly_cost_usd: float | None = Field(default=None, gt=0)
    require_pinned_data: list[Line] = Field(default_factory=list)
    strict_latency_buckets: bool = Field(
        default=False,
        description="A latencyP99Ms that is not a bucket boundary of the environment's "
        "latency histogram is an error (MK406), not a warning (MK330).",
    )


DEFAULT_STEP_IMAGE = "python:3.11-slim"


# The drift job's image, built from images/drift/ and tagged with the compiler's version.
DEFAULT_DRIFT_IMAGE = f"ghcr.io/modelkiln/drift:{__version__}"


class StepImages(Strict):
    """Images of modelkiln's built-in pipeline steps (see docs/pipelines.md)."""

    data_check: Line = Field(default=DEFAULT_STEP_IMAGE, min_length=1)
    gate: Line = Field(default=DEFAULT_STEP_IMAGE, min_length=1)
    register_step: Line = Field(default=DEFAULT_STEP_IMAGE, min_length=1, alias="register")
    launcher: Line = Field(default=DEFAULT_STEP_IMAGE, min_length=1)
    drift: Line = Field(
        default=DEFAULT_DRIFT_IMAGE,
        min_length=1,
        description="The drift job's image (images/drift/): numpy and pyarrow preinstalled, "
        "non-root; a version tag or a digest.",
    )


class Pipelines(Strict):
    images: StepImages = Field(default_factory=StepImages)
    store: Literal["api", "kubernetes"] = Field(
        default="api",
        description="How pipelines reach Kubeflow Pipelines: api (`modelkiln deploy "
        "pipelines` uploads them through the KFP API) or kubernetes (KFP >= 2.14 in "
        "Kubernetes-native mode: Pipeline and PipelineVersion objects in the environment's "
        "kustomization, applied by Argo CD; schedules still go through the API).",
    )
    install_packages: bool = Field(
        default=True,
        description="Install the built-in steps' Python packages when a step starts. Set "
        "false for air-gapped clusters whose step images already hold them.",
    )


class Mlflow(Strict):
    tracking_uri: Line = Field(min_length=1, description="MLFLOW_TRACKING_URI of the server.")
    experiment_name: Line = Field(
        default="{model}",
        min_length=1,
        description="MLFLOW_EXPERIMENT_NAME; {model} and {environment} are replaced.",
    )


_GO_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h))+\Z")


def _check_go_duration(value: str) -> str:
    if not _GO_DURATION.match(value) or not any(c in "123456789" for c in value):
        raise PydanticCustomError(
            "MK207", "'{value}' is not a duration such as 500ms, 5s, 1m or 1m30s", {"value": value}
        )
    return value


# KServe's agent parses batchInterval with Go's time.ParseDuration: no days or weeks.
GoDuration = Annotated[
    str,
    AfterValidator(_check_go_duration),
    WithJsonSchema({"type": "string", "pattern": r"^([0-9]+(ms|s|m|h))+$"}),
]


class RequestLogger(Strict):
    """KServe's request logger on every predictor with drift monitoring (docs/serving.md)."""

    service_account_name: Name = Field(
        default="logger-sa",
        description="ServiceAccount whose Secrets hold the log bucket's credentials; KServe "
        "mounts them into the logger.",
    )
    storage_key: Line = Field(
        default="credentials", min_length=1, description="The logger's storage.key."
    )
    batch_size: int = Field(
        default=1, ge=1, le=10000, description="Requests per log object; 1 writes each at once."
    )
    batch_interval: GoDuration | None = Field(
        default=None, description="Flush a partial batch after this long (batchSize > 1 only)."
    )


class Monitoring(Strict):
    runbook_base_url: LineChecked | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="Every alert's runbook_url is <this>/<alert name in lower case>; "
        "default: the alert's section of modelkiln's docs/runbooks.md.",
    )
    rollback_receiver: RollbackReceiver | None = Field(
        default=None, description="Route rollback alerts to a webhook (AlertmanagerConfig)."
    )
    pushgateway: Line = Field(
        default="http://prometheus-pushgateway.monitoring.svc:9091",
        min_length=1,
        description="Prometheus Pushgateway the drift jobs push their scores to.",
    )
    inference_logs: Line = Field(
        default="{storageUri}/inference-log",
        min_length=1,
        description="Where KServe's request logger writes (its url) and the drift job reads: "
        "an s3://, gs:// or abfs:// prefix; {storageUri}, {model} and {environment} are "
        "replaced.",
    )
    request_logger: RequestLogger = Field(default_factory=RequestLogger)
    drift_service_account_name: Name | None = Field(
        default=None,
        description="ServiceAccount of the drift jobs (read access to the logs and reference "
        "data, e.g. through Workload Identity or IRSA); absent: the namespace's default.",
    )


class Tracking(Strict):
    mlflow: Mlflow | None = None


class ArgoCd(Strict):
    """Render an Argo CD Application per environment (see docs/gitops.md)."""

    repo_url: Line = Field(
        min_length=1, alias="repoURL", description="The git repository Argo CD pulls from."
    )
    target_revision: Line = Field(
        default="HEAD", min_length=1, description="Branch, e.g. the deploy branch."
    )
    path_prefix: Line = Field(
        default="", description="Folder of the spec repository inside the git repository."
    )
    namespace: Line = Field(default="argocd", min_length=1)
    project: Line = Field(default="default", min_length=1)
    name_prefix: Line = Field(default="", description="Prefix of the Applications' names.")
    destinations: dict[str, Line] = Field(
        default_factory=dict,
        description="Environment -> cluster (an API server URL, or an Argo CD cluster "
        "name); default: the environment's cluster name.",
    )
    prune: bool = True
    self_heal: bool = True


class GitOps(Strict):
    argocd: ArgoCd | None = None


class ProjectSpec(Strict):
    output: LineChecked = Field(default="deploy", min_length=1, pattern=r"^[^/.][^\\]*$")
    registry: ArtifactRoot | None = Field(
        default=None, description="Root URI for model artifacts; storage URIs derive from it."
    )
    environments: list[Environment] = Field(min_length=1)
    policies: Policies = Field(default_factory=Policies)
    # Extensions beyond the core language (documented in docs/language.md):
    exclude: list[Line] = Field(
        default_factory=list,
        description="Glob patterns (relative to the root) of YAML files that are not specs.",
    )
    pipelines: Pipelines = Field(default_factory=Pipelines)
    training: ProjectTraining = Field(default_factory=ProjectTraining)
    tracking: Tracking = Field(default_factory=Tracking)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    gitops: GitOps = Field(default_factory=GitOps)
    gpu_prices: dict[Accelerator, dict[Literal["gcp", "aws", "azure"], float]] = Field(
        default_factory=dict,
        description="Override catalog prices: {accelerator: {cloud: usdPerGpuHour}}.",
    )
    quotas: Quotas = Field(
        default_factory=Quotas, description="Teams' GPU quotas per environment (Kueue)."
    )


class Project(Strict):
    api_version: Literal["modelkiln.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["Project"]
    metadata: Metadata
    spec: ProjectSpec
