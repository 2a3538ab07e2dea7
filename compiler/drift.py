"""Drift monitoring of one Model in one environment, derived once for validation and the plan.

The data flow (docs/serving.md): KServe's request logger on the predictor writes every
request to blob storage under the logger's url, and the drift job reads exactly there:

    <url>/<namespace>/<inferenceservice>/predictor/<LOG_PATH>/<id>-request.json

(kserve v0.20.0 pkg/logger/store.go getObjectKey: the url's path, the namespace, the
InferenceService, the component and storage.path, joined).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from compiler.spec.model import ModelSpec
from compiler.spec.project import Monitoring
from compiler.spec.types import duration_seconds

if TYPE_CHECKING:
    from compiler.plan import DataPlan

# The blob schemes KServe 0.20's logger stores to: pkg/logger/store.go GetStorageStrategy
# routes by prefix, and NewStoreForScheme accepts exactly s3://, gs:// and abfs://
# (pkg/agent/storage/provider.go); anything else makes the agent exit at start.
LOG_SCHEMES = ("s3", "gs", "abfs")
LOG_PATH = "requests"  # storage.path: the last folder of the object keys
LOG_FORMAT = "json"  # storage.parameters.format: one LogRequest (or an array) per object
COMPONENT = "predictor"

# What the drift job measures per DataSource column type; the others cannot be scored.
NUMERIC_TYPES = ("int", "float")
CATEGORICAL_TYPES = ("string", "bool")
# Reference data the drift job reads with pyarrow (drift_job.read_table).
READABLE_FORMATS = ("parquet", "csv", "jsonl")
READABLE_SCHEMES = ("gs://", "s3://", "abfss://")


@dataclass(frozen=True)
class RequestLoggerPlan:
    """The predictor's `logger` (kserve v0.20.0 LoggerSpec)."""

    url: str
    service_account: str
    storage_key: str
    batch_size: int
    batch_interval: str | None


@dataclass(frozen=True)
class DriftPlan:
    features: tuple[str, ...]
    method: str  # psi | ks | wasserstein
    threshold: float
    schedule: str
    reference: DataPlan | None  # the first data source the model trains on
    inputs: str  # where the drift job reads: the logger's objects of this predictor
    pushgateway: str
    logger: RequestLoggerPlan
    window_seconds: int
    columns: tuple[str, ...] | None  # names of positional request columns
    categorical: tuple[str, ...]  # features scored as categories (string, bool columns)
    cpu: str
    memory: str
    service_account: str | None


def logger_url(template: str, storage_uri: str, model: str, environment: str) -> str:
    """The logger's url: the Project's inferenceLogs with its placeholders replaced."""
    url = (
        template.replace("{storageUri}", storage_uri.rstrip("/"))
        .replace("{model}", model)
        .replace("{environment}", environment)
    )
    return url.rstrip("/")


def log_url_problem(url: str) -> str | None:
    """Why KServe's logger cannot store to url, or None when it can."""
    parts = urlsplit(url)
    if parts.scheme not in LOG_SCHEMES or not url.startswith(parts.scheme + "://"):
        return "KServe's request logger stores only to s3://, gs:// or abfs:// URLs"
    if parts.scheme == "abfs" and not (parts.username and parts.hostname):
        # the bucket of an Azure URL is its user part (pkg/logger/store.go parseBlobStoreURL)
        return "an abfs:// URL needs the form abfs://<container>@<account>.dfs.core.windows.net/…"
    if not parts.hostname:
        return "the URL names no bucket"
    return None


def reads_from(url: str, namespace: str, model: str) -> str:
    """Where the logger of `model`'s predictor in `namespace` puts its objects."""
    return f"{url}/{namespace}/{model}/{COMPONENT}/{LOG_PATH}"


def drift_plan(
    monitoring: Monitoring,
    spec: ModelSpec,
    name: str,
    namespace: str,
    environment: str,
    storage_uri: str,
    reference: DataPlan | None,
) -> DriftPlan | None:
    """The drift plan of a served Model with monitoring.drift (None without)."""
    if spec.monitoring is None or spec.monitoring.drift is None:
        return None
    d = spec.monitoring.drift
    url = logger_url(monitoring.inference_logs, storage_uri, name, environment)
    log = monitoring.request_logger
    types = {column: kind for column, kind, _ in reference.columns} if reference else {}
    return DriftPlan(
        features=tuple(d.features),
        method=d.method,
        threshold=d.threshold,
        schedule=d.schedule,
        reference=reference,
        inputs=reads_from(url, namespace, name),
        pushgateway=monitoring.pushgateway,
        logger=RequestLoggerPlan(
            url=url,
            service_account=log.service_account_name,
            storage_key=log.storage_key,
            batch_size=log.batch_size,
            batch_interval=log.batch_interval,
        ),
        window_seconds=int(duration_seconds(d.window)),
        columns=tuple(d.columns) if d.columns is not None else None,
        categorical=tuple(f for f in d.features if types.get(f) in CATEGORICAL_TYPES),
        cpu=d.resources.cpu,
        memory=d.resources.memory,
        service_account=monitoring.drift_service_account_name,
    )
