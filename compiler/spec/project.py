"""kind: Project: environments, clouds, output folder and policies (exactly one)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from compiler import __version__
from compiler.spec.base import Metadata, Strict
from compiler.spec.gpupool import Accelerator
from compiler.spec.types import Name, StorageUri

Provider = Literal["gcp", "aws", "azure"]

# The identity fields each provider needs; the others are refused so a copy-paste is caught.
PROVIDER_FIELDS: dict[str, tuple[str, ...]] = {
    "gcp": ("project",),
    "aws": ("account",),
    "azure": ("subscription", "resourceGroup"),
}


class Cloud(Strict):
    provider: Provider
    region: str = Field(min_length=1)
    project: str | None = Field(default=None, description="GCP project id (gcp).")
    account: str | None = Field(default=None, description="AWS account id (aws).")
    subscription: str | None = Field(default=None, description="Azure subscription id.")
    resource_group: str | None = Field(default=None, description="Azure resource group.")

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
        if missing or foreign:
            parts = []
            if missing:
                parts.append("needs " + " and ".join(f"'{f}'" for f in missing))
            if foreign:
                parts.append("does not use " + " or ".join(f"'{f}'" for f in foreign))
            raise PydanticCustomError(
                "MK212",
                "cloud provider '{provider}' {problem}",
                {"provider": self.provider, "problem": "; ".join(parts)},
            )
        return self


class Environment(Strict):
    name: Name
    namespace: Name = Field(description="Kubernetes namespace of this environment's workloads.")
    cloud: Cloud
    cluster: str = Field(min_length=1, description="The existing cluster GPU pools attach to.")


class Policies(Strict):
    max_gpus_per_model: int | None = Field(default=None, ge=1)
    require_canary_in: list[str] = Field(default_factory=list)
    require_pinned_images: bool = False
    max_monthly_cost_usd: float | None = Field(default=None, gt=0)
    require_pinned_data: list[str] = Field(default_factory=list)


DEFAULT_STEP_IMAGE = "python:3.11-slim"
# The drift job's image, built from images/drift/ and tagged with the compiler's version.
DEFAULT_DRIFT_IMAGE = f"ghcr.io/modelkiln/drift:{__version__}"


class StepImages(Strict):
    """Images of modelkiln's built-in pipeline steps (see docs/pipelines.md)."""

    data_check: str = Field(default=DEFAULT_STEP_IMAGE, min_length=1)
    gate: str = Field(default=DEFAULT_STEP_IMAGE, min_length=1)
    register_step: str = Field(default=DEFAULT_STEP_IMAGE, min_length=1, alias="register")
    launcher: str = Field(default=DEFAULT_STEP_IMAGE, min_length=1)
    drift: str = Field(
        default=DEFAULT_DRIFT_IMAGE,
        min_length=1,
        description="The drift job's image (images/drift/): numpy and pyarrow preinstalled, "
        "non-root; a version tag or a digest.",
    )


class Pipelines(Strict):
    images: StepImages = Field(default_factory=StepImages)
    install_packages: bool = Field(
        default=True,
        description="Install the built-in steps' Python packages when a step starts. Set "
        "false for air-gapped clusters whose step images already hold them.",
    )


class Mlflow(Strict):
    tracking_uri: str = Field(min_length=1, description="MLFLOW_TRACKING_URI of the server.")
    experiment_name: str = Field(
        default="{model}",
        min_length=1,
        description="MLFLOW_EXPERIMENT_NAME; {model} and {environment} are replaced.",
    )


class RequestMetrics(Strict):
    """Where the serving SLO's numbers come from. Defaults: KServe in serverless mode, whose
    Knative queue-proxy counts requests and times them in milliseconds."""

    requests: str = Field(default="revision_app_request_count", min_length=1)
    error_filter: str = Field(
        default='response_code_class="5xx"',
        min_length=1,
        description="Label matchers that select failed requests.",
    )
    latency_bucket: str = Field(default="revision_app_request_latencies_bucket", min_length=1)
    latency_unit: Literal["ms", "s"] = "ms"
    selector: str = Field(
        default='namespace="{namespace}", configuration_name="{model}-predictor"',
        min_length=1,
        description="Label matchers of one model's series; {namespace} and {model} are replaced.",
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
    storage_key: str = Field(
        default="credentials", min_length=1, description="The logger's storage.key."
    )
    batch_size: int = Field(
        default=1, ge=1, le=10000, description="Requests per log object; 1 writes each at once."
    )
    batch_interval: GoDuration | None = Field(
        default=None, description="Flush a partial batch after this long (batchSize > 1 only)."
    )


class Monitoring(Strict):
    metrics: RequestMetrics = Field(default_factory=RequestMetrics)
    pushgateway: str = Field(
        default="http://prometheus-pushgateway.monitoring.svc:9091",
        min_length=1,
        description="Prometheus Pushgateway the drift jobs push their scores to.",
    )
    inference_logs: str = Field(
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

    repo_url: str = Field(
        min_length=1, alias="repoURL", description="The git repository Argo CD pulls from."
    )
    target_revision: str = Field(
        default="HEAD", min_length=1, description="Branch, e.g. the deploy branch."
    )
    path_prefix: str = Field(
        default="", description="Folder of the spec repository inside the git repository."
    )
    namespace: str = Field(default="argocd", min_length=1)
    project: str = Field(default="default", min_length=1)
    name_prefix: str = Field(default="", description="Prefix of the Applications' names.")
    destinations: dict[str, str] = Field(
        default_factory=dict,
        description="Environment -> cluster (an API server URL, or an Argo CD cluster "
        "name); default: the environment's cluster name.",
    )
    prune: bool = True
    self_heal: bool = True


class GitOps(Strict):
    argocd: ArgoCd | None = None


class ProjectSpec(Strict):
    output: str = Field(default="deploy", min_length=1, pattern=r"^[^/.][^\\]*$")
    registry: StorageUri | None = Field(
        default=None, description="Root URI for model artifacts; storage URIs derive from it."
    )
    environments: list[Environment] = Field(min_length=1)
    policies: Policies = Field(default_factory=Policies)
    # Extensions beyond the core language (documented in docs/language.md):
    exclude: list[str] = Field(
        default_factory=list,
        description="Glob patterns (relative to the root) of YAML files that are not specs.",
    )
    pipelines: Pipelines = Field(default_factory=Pipelines)
    tracking: Tracking = Field(default_factory=Tracking)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    gitops: GitOps = Field(default_factory=GitOps)
    gpu_prices: dict[Accelerator, dict[Literal["gcp", "aws", "azure"], float]] = Field(
        default_factory=dict,
        description="Override catalog prices: {accelerator: {cloud: usdPerGpuHour}}.",
    )


class Project(Strict):
    api_version: Literal["modelkiln.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["Project"]
    metadata: Metadata
    spec: ProjectSpec
