"""The metrics a served model's SLOs read, per KServe deployment mode, and the latency
histogram's buckets: one module for validation (is latencyP99Ms a bucket boundary?) and
rendering (which `le` the latency SLI reads).

Defaults, from upstream source (details and caveats in docs/serving.md):

Knative mode: Knative Serving ≥ 1.19 (1.21.1 is the release KServe 0.20 pairs with)
    records requests in the queue-proxy with OpenTelemetry: histogram
    ``kn.serving.invocation.duration`` in seconds with attribute
    ``http.response.status_code`` (knative/serving knative-v1.21.1
    pkg/queue/request_metric.go:30-65), exported to Prometheus as
    ``kn_serving_invocation_duration_seconds_{bucket,count,sum}`` with label
    ``http_response_status_code``. Revision identity is an OTel resource attribute, not a
    series label, so a model's series are found by the scraped ``pod`` label: Knative names
    a revision's pods ``<revision>-deployment-<hash>-<hash>`` and KServe names the revision
    ``<isvc>-predictor-<00001>``. Request metrics are off unless config-observability sets
    ``request-metrics-protocol: prometheus``.
Standard mode: no queue-proxy. KServe's Python model server (kserve v0.20.0
    python/kserve/kserve/metrics.py) exposes ``request_predict_seconds{model_name}``, a
    prometheus_client histogram with its default buckets and no status-code label;
    ``--model_name`` is the InferenceService's name (runtime args ``--model_name={{.Name}}``).
    Failed requests therefore come from the ingress in front of it: KServe 0.20's
    ``ingressClassName`` default is ``istio`` (config/configmap/inferenceservice.yaml:367),
    whose gateway reports ``istio_requests_total{response_code}`` for the predictor
    Service ``<isvc>-predictor``.

Both histograms have the same bounds: Knative's ``latencyBounds`` (request_metric.go:30)
and prometheus_client's ``Histogram.DEFAULT_BUCKETS``: 5 ms to 10 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from compiler.spec.metrics import ErrorSource, LatencySource, RequestSource, ServingMetrics
from compiler.spec.project import Environment

Mode = Literal["standard", "knative"]

DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
)  # fmt: skip

_KNATIVE_POD = 'namespace="{namespace}", pod=~"{model}-predictor-[0-9]+-deployment-.+"'
_KNATIVE_REVISION = "(.+)-deployment-.+"
_DEPLOYMENT_POD = "(.+)-[a-z0-9]+-[a-z0-9]+"  # <deployment>-<pod-template-hash>-<suffix>


def deployment_pods(deployment: str) -> str:
    """An anchored regex of the pods of one Deployment, <deployment>-<hash>-<suffix>: the
    pods of another Deployment whose name merely starts with it (a canary's
    <isvc>-canary-predictor, a prefill <name>-kserve-prefill) do not match."""
    return f"{deployment}-[a-z0-9]+-[a-z0-9]+"


DEFAULTS: dict[str, tuple[RequestSource, ErrorSource, LatencySource]] = {
    "knative": (
        RequestSource(
            metric="kn_serving_invocation_duration_seconds_count",
            selector=_KNATIVE_POD,
            revision_label="pod",
            revision_pattern=_KNATIVE_REVISION,
        ),
        ErrorSource(selector='http_response_status_code=~"5.."'),
        LatencySource(
            histogram="kn_serving_invocation_duration_seconds",
            selector=_KNATIVE_POD,
            revision_label="pod",
            revision_pattern=_KNATIVE_REVISION,
        ),
    ),
    "standard": (
        RequestSource(
            metric="request_predict_seconds_count",
            selector='namespace="{namespace}", model_name="{model}"',
            revision_label="pod",
            revision_pattern=_DEPLOYMENT_POD,
        ),
        ErrorSource(
            metric="istio_requests_total",
            selector='reporter="source", destination_service_namespace="{namespace}", '
            'destination_service_name="{model}-predictor", response_code=~"5.."',
            revision_label="destination_workload",
            revision_pattern="(.+)",
        ),
        LatencySource(
            histogram="request_predict_seconds",
            selector='namespace="{namespace}", model_name="{model}"',
            revision_label="pod",
            revision_pattern=_DEPLOYMENT_POD,
        ),
    ),
}


@dataclass(frozen=True)
class Series:
    """One metric of one model: name, matchers, and how its series name a revision."""

    metric: str
    selector: str  # placeholders replaced
    revision_label: str
    revision_pattern: str

    def __call__(self, *matchers: str) -> str:
        """metric{selector, matchers...}"""
        inner = ", ".join(p.strip() for p in (self.selector, *matchers) if p.strip())
        return f"{self.metric}{{{inner}}}" if inner else self.metric

    def per_revision(self, expr: str) -> str:
        """expr with a revision_name label taken from the revision label."""
        return (
            f'label_replace({expr}, "revision_name", "$1", "{self.revision_label}",'
            f' "{self.revision_pattern}")'
        )


@dataclass(frozen=True)
class MetricsPlan:
    """A model's SLO metrics in one environment, resolved."""

    mode: str
    requests: Series
    errors: Series  # failed requests (on requests' metric when not separate)
    separate_errors: bool  # errors is a counter of its own, not a subset of requests
    latency_bucket: Series  # <histogram>_bucket
    latency_count: Series  # <histogram>_count
    buckets: tuple[float, ...]  # seconds


def serving_mode(env: Environment) -> Mode:
    return env.serving.mode


def sources(env: Environment) -> tuple[RequestSource, ErrorSource, LatencySource]:
    """The environment's blocks, each given one replacing its mode's default."""
    m: ServingMetrics = env.serving.metrics
    requests, errors, latency = DEFAULTS[serving_mode(env)]
    return (m.requests or requests, m.errors or errors, m.latency or latency)


def buckets(env: Environment) -> tuple[float, ...]:
    given = env.serving.metrics.latency_buckets
    return tuple(given) if given is not None else DEFAULT_BUCKETS


def resolve(env: Environment, model: str) -> MetricsPlan:
    requests, errors, latency = sources(env)

    def fill(text: str) -> str:
        return text.replace("{namespace}", env.namespace).replace("{model}", model)

    request_series = Series(
        requests.metric,
        fill(requests.selector),
        requests.revision_label,
        requests.revision_pattern,
    )
    if errors.metric is None:
        selector = ", ".join((request_series.selector, fill(errors.selector)))
        error_series = Series(requests.metric, selector, *_revision(requests))
    else:
        error_series = Series(errors.metric, fill(errors.selector), *_revision(errors))
    histogram = latency.histogram
    lat = (fill(latency.selector), *_revision(latency))
    return MetricsPlan(
        mode=serving_mode(env),
        requests=request_series,
        errors=error_series,
        separate_errors=errors.metric is not None,
        latency_bucket=Series(f"{histogram}_bucket", *lat),
        latency_count=Series(f"{histogram}_count", *lat),
        buckets=buckets(env),
    )


def _revision(source: RequestSource | ErrorSource | LatencySource) -> tuple[str, str]:
    return source.revision_label, source.revision_pattern


# --- buckets -------------------------------------------------------------------------------


def seconds(milliseconds: float) -> Decimal:
    """Milliseconds as exact decimal seconds: 250 → 0.25 (never 0.25000000000000006)."""
    return (Decimal(repr(float(milliseconds))) / 1000).normalize()


def le_text(value: Decimal | float) -> str:
    """A bound as Prometheus' Go clients expose it: 0.25, 1, 2.5, 10 (never 1E+1)."""
    text = format(Decimal(repr(value)) if isinstance(value, float) else value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def boundary(
    milliseconds: float, bounds: tuple[float, ...]
) -> tuple[bool, Decimal | None, Decimal | None]:
    """(is a boundary, nearest bound below or at, nearest bound above or at) in seconds."""
    target = seconds(milliseconds)
    exact = [Decimal(repr(float(b))) for b in bounds]
    below = max((b for b in exact if b <= target), default=None)
    above = min((b for b in exact if b >= target), default=None)
    return (below == target, below, above)


def measured_bound(milliseconds: float, bounds: tuple[float, ...]) -> Decimal:
    """The bucket the latency SLI reads: the objective when it is a boundary, else the
    nearest boundary below it (stricter: never reports fewer slow requests than there
    are), else the smallest."""
    _, below, above = boundary(milliseconds, bounds)
    chosen = below if below is not None else above
    assert chosen is not None  # bounds is never empty
    return chosen.normalize()
