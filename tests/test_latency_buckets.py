"""latencyP99Ms against the latency histogram's buckets (MK330 warning, MK406 under
policies.strictLatencyBuckets, MK331 for a bucket list out of order), and the bucket
arithmetic the latency SLI shares with validation."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.load import load
from compiler.serving_metrics import DEFAULT_BUCKETS, boundary, le_text, measured_bound, seconds
from compiler.validate import validate
from tests.conftest import copy_example

EXE = str(Path(sys.executable).with_name("modelkiln"))


def test_default_buckets_are_knatives_and_prometheus_clients() -> None:
    """knative-v1.21.1 pkg/queue/request_metric.go latencyBounds and prometheus_client's
    Histogram.DEFAULT_BUCKETS (without +Inf): the same list."""
    assert DEFAULT_BUCKETS == (
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("ms", "text"),
    [(5, "0.005"), (75, "0.075"), (100, "0.1"), (250, "0.25"), (1000, "1"), (2500, "2.5"),
     (10000, "10"), (0.5, "0.0005"), (123.4, "0.1234")],
)  # fmt: skip
def test_seconds_render_as_prometheus_writes_them(ms: float, text: str) -> None:
    assert le_text(seconds(ms)) == text


def test_boundary_and_the_bucket_measured() -> None:
    assert boundary(250, DEFAULT_BUCKETS) == (True, Decimal("0.25"), Decimal("0.25"))
    assert boundary(150, DEFAULT_BUCKETS) == (False, Decimal("0.1"), Decimal("0.25"))
    assert measured_bound(150, DEFAULT_BUCKETS) == Decimal("0.1")  # stricter, never laxer
    assert boundary(2, DEFAULT_BUCKETS) == (False, None, Decimal("0.005"))
    assert measured_bound(2, DEFAULT_BUCKETS) == Decimal("0.005")
    assert boundary(20000, DEFAULT_BUCKETS) == (False, Decimal(10), None)
    assert measured_bound(20000, DEFAULT_BUCKETS) == Decimal(10)


@given(st.sampled_from(DEFAULT_BUCKETS))
def test_every_default_bucket_in_milliseconds_is_a_boundary(bound: float) -> None:
    ms = float(Decimal(repr(float(bound))) * 1000)
    assert boundary(ms, DEFAULT_BUCKETS)[0]
    assert measured_bound(ms, DEFAULT_BUCKETS) == Decimal(repr(float(bound))).normalize()


@given(st.floats(min_value=0.1, max_value=60000, allow_nan=False))
def test_the_measured_bucket_is_never_laxer_unless_none_is_below(ms: float) -> None:
    used = measured_bound(ms, DEFAULT_BUCKETS)
    assert used in {Decimal(repr(float(b))).normalize() for b in DEFAULT_BUCKETS}
    if ms >= 5:
        assert used <= seconds(ms)


def _set(root: Path, file: str, old: str, new: str) -> None:
    path = root / file
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")


def _run(root: Path) -> tuple[int, list[dict[str, object]]]:
    proc = subprocess.run(
        [EXE, "validate", str(root), "--format", "json"], capture_output=True, text=True
    )
    return proc.returncode, json.loads(proc.stdout)["diagnostics"]


def test_a_value_between_buckets_warns_once_naming_every_environment(tmp_path: Path) -> None:
    root = copy_example(tmp_path, "multi-cloud")
    _set(root, "modelkiln.yaml", "    strictLatencyBuckets: true", "")
    _set(root, "models/churn.yaml", "latencyP99Ms: 50", "latencyP99Ms: 60")
    code, diagnostics = _run(root)
    assert code == 0  # warnings alone pass the gate
    (d,) = diagnostics
    assert (d["file"], d["line"], d["code"], d["severity"]) == (
        "models/churn.yaml",
        23,
        "MK330",
        "warning",
    )
    assert "environments 'staging', 'prod-us', 'prod-eu'" in str(d["message"])
    assert "nearest: 0.05 s and 0.075 s" in str(d["message"])
    assert "measured at 50 ms" in str(d["message"])
    assert str(d["hint"]).startswith("use 50 or 75")


def test_the_policy_makes_it_an_error(tmp_path: Path) -> None:
    root = copy_example(tmp_path, "multi-cloud")  # strictLatencyBuckets: true
    _set(root, "models/churn.yaml", "latencyP99Ms: 50", "latencyP99Ms: 60")
    code, diagnostics = _run(root)
    assert code == 1
    assert [(d["code"], d["severity"]) for d in diagnostics] == [("MK406", "error")]


def test_environment_buckets_decide(tmp_path: Path) -> None:
    """An environment that lists its histogram's buckets: 60 ms is one of them there, so
    only the other environments (default buckets) report it."""
    root = copy_example(tmp_path, "multi-cloud")
    _set(root, "models/churn.yaml", "latencyP99Ms: 50", "latencyP99Ms: 60")
    _set(
        root,
        "modelkiln.yaml",
        "      cluster: ml-staging-gke\n",
        "      cluster: ml-staging-gke\n"
        "      serving: {metrics: {latencyBuckets: [0.025, 0.05, 0.06, 0.075, 0.25, 1]}}\n",
    )
    result = validate(load(root))
    (d,) = result.diagnostics
    assert d.code == "MK406"
    assert "environments 'prod-us', 'prod-eu'" in d.message


def test_the_examples_have_no_diagnostics() -> None:
    from tests.conftest import EXAMPLES

    for example in ("quickstart", "multi-cloud"):
        assert not validate(load(EXAMPLES / example)).diagnostics, example
