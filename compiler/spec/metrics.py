"""Where an environment's serving SLOs read their numbers, and where rollback alerts go.

Every block is optional: an absent block takes the default of the environment's serving
mode (compiler/serving_metrics.py); a given block replaces that default as a whole, so
what a block says is all there is to it.
"""

from __future__ import annotations

import itertools

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from compiler.spec.base import Strict
from compiler.spec.types import LabelKey, Line, LineChecked, Name

_SELECTOR_HELP = "PromQL label matchers; {namespace} and {model} are replaced."
_REVISION_LABEL_HELP = "Label whose value names the revision (rollback alerts group by it)."
_REVISION_PATTERN_HELP = "Regular expression over that label; its first group is the revision."


class RequestSource(Strict):
    """A counter of every request to the model: the availability SLI's denominator."""

    metric: Line = Field(min_length=1, description="Counter name, e.g. a histogram's _count.")
    selector: Line = Field(min_length=1, description=_SELECTOR_HELP)
    revision_label: Line = Field(default="pod", min_length=1, description=_REVISION_LABEL_HELP)
    revision_pattern: Line = Field(default="(.+)", min_length=1, description=_REVISION_PATTERN_HELP)


class ErrorSource(Strict):
    """Failed requests: matchers on the request counter, or a counter of their own."""

    metric: Line | None = Field(
        default=None,
        min_length=1,
        description="A separate counter of failed requests; absent: the request counter.",
    )
    selector: Line = Field(
        min_length=1,
        description="Matchers of failed requests (with metric: all of its matchers). "
        + _SELECTOR_HELP,
    )
    revision_label: Line = Field(default="pod", min_length=1, description=_REVISION_LABEL_HELP)
    revision_pattern: Line = Field(default="(.+)", min_length=1, description=_REVISION_PATTERN_HELP)


class LatencySource(Strict):
    """A Prometheus histogram of request durations in seconds."""

    histogram: Line = Field(
        min_length=1, description="Histogram name without _bucket/_count, in seconds."
    )
    selector: Line = Field(min_length=1, description=_SELECTOR_HELP)
    revision_label: Line = Field(default="pod", min_length=1, description=_REVISION_LABEL_HELP)
    revision_pattern: Line = Field(default="(.+)", min_length=1, description=_REVISION_PATTERN_HELP)


def first_out_of_order(bounds: list[float] | None) -> float | None:
    """The first bound of a histogram's bucket list that is not positive or not above the
    one before it; None when the list is fine (or absent)."""
    if bounds is None:
        return None
    bad = [b for b in bounds if not b > 0]
    backwards = [b for a, b in itertools.pairwise(bounds) if b <= a]
    return (bad or backwards)[0] if bad or backwards else None


class ServingMetrics(Strict):
    requests: RequestSource | None = None
    errors: ErrorSource | None = None
    latency: LatencySource | None = None
    latency_buckets: list[float] | None = Field(
        default=None,
        min_length=1,
        description="Upper bounds (seconds) of the latency histogram's buckets, without "
        "+Inf; latencyP99Ms is checked against them. Default: the mode's histogram.",
    )

    @field_validator("latency_buckets")
    @classmethod
    def _increasing(cls, value: list[float] | None) -> list[float] | None:
        found = first_out_of_order(value)
        if found is not None:
            raise PydanticCustomError(
                "MK331",
                "latencyBuckets must be positive seconds in increasing order, without "
                "repeats (found {found})",
                {"found": f"{found:g}"},
            )
        return value


class SecretKeyRef(Strict):
    name: Name = Field(description="Secret in the environment's namespace.")
    key: LineChecked = Field(
        min_length=1, pattern=r"^[-._a-zA-Z0-9]+$", description="Key inside it."
    )


class RollbackReceiver(Strict):
    """Where alerts labelled modelkiln_rollback="true" go: a webhook, through an
    AlertmanagerConfig in every environment (see docs/serving.md)."""

    name: Name = Field(
        default="modelkiln-rollback", description="Name of the AlertmanagerConfig and receiver."
    )
    url_secret: SecretKeyRef = Field(description="The webhook URL, read from this Secret.")
    send_resolved: bool = True
    labels: dict[LabelKey, Line] = Field(
        default_factory=dict,
        description="Labels of the AlertmanagerConfig, to match the Alertmanager's "
        "alertmanagerConfigSelector.",
    )
