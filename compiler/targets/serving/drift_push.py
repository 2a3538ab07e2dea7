"""modelkiln's drift job, the Prometheus side: the scores in the text exposition format, and
the PUT to the Pushgateway that replaces this model's and environment's group.

Shipped next to drift_job.py in the drift job's ConfigMap; imports only the standard library.
"""

import math
import time
import urllib.parse
import urllib.request
from typing import Any

JOB = "modelkiln-drift"
PUSH_TIMEOUT_SECONDS = 30


def _label(value: str) -> str:
    """A label value escaped for the text exposition format."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _metric(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def exposition(
    model: str,
    environment: str,
    results: list[dict[str, Any]],
    timestamp: float | None = None,
) -> str:
    """The results in Prometheus text exposition format (version 0.0.4).

    timestamp is the run's Unix time for modelkiln_drift_last_run_timestamp_seconds
    (now when None).
    """
    when = time.time() if timestamp is None else timestamp
    base = f'model="{_label(model)}",environment="{_label(environment)}"'

    def labels(result: dict[str, Any]) -> str:
        return (
            f'{{{base},feature="{_label(str(result["feature"]))}",'
            f'method="{_label(str(result["method"]))}"}}'
        )

    lines = [
        "# HELP modelkiln_drift_score Drift of a feature's logged inference inputs from its "
        "reference data, by the method label's measure (psi, ks or wasserstein).",
        "# TYPE modelkiln_drift_score gauge",
    ]
    lines += [f"modelkiln_drift_score{labels(r)} {_metric(r['score'])}" for r in results]
    lines += [
        "# HELP modelkiln_drift_threshold The drift score above which a feature counts as drifted.",
        "# TYPE modelkiln_drift_threshold gauge",
    ]
    lines += [f"modelkiln_drift_threshold{labels(r)} {_metric(r['threshold'])}" for r in results]
    lines += [
        "# HELP modelkiln_drift_last_run_timestamp_seconds Unix time of the drift job's last "
        "completed run.",
        "# TYPE modelkiln_drift_last_run_timestamp_seconds gauge",
        f"modelkiln_drift_last_run_timestamp_seconds{{{base}}} {_metric(when)}",
    ]
    return "\n".join(lines) + "\n"


def push_url(pushgateway_url: str, model: str, environment: str) -> str:
    """The Pushgateway URL of this model's and environment's drift metrics group."""

    def segment(value: str) -> str:
        return urllib.parse.quote(value, safe="")

    return (
        f"{pushgateway_url.rstrip('/')}/metrics/job/{JOB}"
        f"/model/{segment(model)}/environment/{segment(environment)}"
    )


def push(pushgateway_url: str, model: str, environment: str, body: str) -> None:
    """PUT the exposition to the Pushgateway, replacing the group's metrics; raise unless 2xx."""
    url = push_url(pushgateway_url, model, environment)
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"the Pushgateway URL must be http or https, not {pushgateway_url!r}")
    request = urllib.request.Request(
        url,
        data=body.encode("utf-8"),
        method="PUT",
        headers={"Content-Type": "text/plain; version=0.0.4"},
    )
    with urllib.request.urlopen(request, timeout=PUSH_TIMEOUT_SECONDS) as response:
        status = int(response.status)
    if not 200 <= status < 300:
        raise RuntimeError(f"the Pushgateway at {url} answered HTTP {status}")
