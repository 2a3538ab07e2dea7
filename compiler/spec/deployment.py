"""An environment's `serving` block: KServe's deployment mode and where autoscaling reads
the request rate (docs/serving.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from compiler.spec.base import Strict
from compiler.spec.types import uri_checker

# KServe's Python model servers (sklearn, xgboost, lightgbm, huggingface, ...) count every
# predict call in this histogram (kserve v0.20.0 python/kserve/kserve/metrics.py); in
# Standard mode there is no Knative queue-proxy to count requests.
DEFAULT_REQUESTS_METRIC = "request_predict_seconds_count"

HttpAddress = Annotated[str, uri_checker(("http://", "https://"))]


class EnvironmentServing(Strict):
    mode: Literal["standard", "knative"] = Field(
        default="standard",
        description="KServe deployment mode, always written as the "
        "serving.kserve.io/deploymentMode annotation: standard (Deployments, HPA or KEDA "
        "autoscaling, spec.canary) or knative (Knative revisions, request-based autoscaling, "
        "canaryTrafficPercent, scale to zero).",
    )
    prometheus: HttpAddress | None = Field(
        default=None,
        description="Standard mode: the Prometheus server KEDA asks for each predictor's "
        "request rate. Absent: the predictors scale on CPU utilisation (HPA).",
    )
    requests_metric: str = Field(
        default=DEFAULT_REQUESTS_METRIC,
        pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
        description="Standard mode with prometheus: the counter of requests of a predictor's "
        "pods whose rate KEDA scales on (summed by namespace and pod).",
    )
