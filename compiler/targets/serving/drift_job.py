"""modelkiln's drift job: compare a model's logged inference inputs with its reference data.

This file is shipped verbatim in a ConfigMap and run by a CronJob as

    python /etc/modelkiln/drift_job.py --config /etc/modelkiln/drift.json

so it imports only the standard library, numpy and pyarrow. The config is JSON:

    {"model": "fraud", "environment": "prod", "method": "psi", "threshold": 0.2,
     "features": ["amount", ...],
     "reference": {"uri": "gs://bucket/fraud", "format": "parquet", "version": "v3"},
     "inputs": {"uri": "gs://bucket/fraud-logs", "format": "jsonl"},
     "pushgateway": "http://pushgateway.monitoring:9091"}

For each feature it scores the drift between the reference column and the inputs column,
prints one JSON line per feature, and pushes the scores as Prometheus gauges to the
Pushgateway (unless "pushgateway" is null or --dry-run is given). Drift is reported through
the metrics and their alert, not the exit code: the exit code is 0 after a run, 2 for a bad
config or unreadable data, 1 when the push fails.
"""

import argparse
import json
import math
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
# A sample: an array or a sequence of numbers, NaN and None among them (they are dropped).
Sample = npt.ArrayLike | Sequence[float | None]

EPSILON = 1e-6  # the floor of a PSI bin's proportion, so an empty bin doesn't divide by zero
JOB = "modelkiln-drift"
READERS = {"parquet": "parquet", "csv": "csv", "jsonl": "json"}
PUSH_TIMEOUT_SECONDS = 30


# --- the drift measures -----------------------------------------------------------------


def _sample(values: Sample, name: str) -> FloatArray:
    """The sample as a 1-D float64 array without NaN (None becomes NaN); never empty."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"the {name} sample must be 1-D, not {array.ndim}-D")
    array = array[~np.isnan(array)]
    if array.size == 0:
        raise ValueError(f"the {name} sample is empty (no values besides NaN/None)")
    return array


def psi(reference: Sample, current: Sample, bins: int = 10) -> float:
    """Population Stability Index of current against reference.

    The bin edges are the reference's quantiles (deduplicated, outer edges -inf and +inf);
    PSI = sum((c - r) * ln(c / r)) over the bins' proportions, each floored at EPSILON.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    inner = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    # Bin i holds [edge_i, edge_i+1), with edge_0 = -inf and the last edge +inf.
    ref_counts = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=inner.size + 1)
    cur_counts = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=inner.size + 1)
    r = np.maximum(ref_counts / ref.size, EPSILON)
    c = np.maximum(cur_counts / cur.size, EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def _cdfs(
    reference: Sample, current: Sample, drop_last: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The sorted pooled points and both empirical CDFs evaluated at them."""
    ref = np.sort(_sample(reference, "reference"))
    cur = np.sort(_sample(current, "current"))
    points = np.sort(np.concatenate([ref, cur]))
    at = points[:-1] if drop_last else points
    f_ref = np.searchsorted(ref, at, side="right") / ref.size
    f_cur = np.searchsorted(cur, at, side="right") / cur.size
    return points, f_ref, f_cur


def ks(reference: Sample, current: Sample) -> float:
    """Two-sample Kolmogorov–Smirnov statistic D = max |F_ref(x) - F_cur(x)| (exact)."""
    _, f_ref, f_cur = _cdfs(reference, current, drop_last=False)
    return float(np.max(np.abs(f_ref - f_cur)))


def wasserstein(reference: Sample, current: Sample) -> float:
    """1-Wasserstein distance between the two empirical distributions: ∫ |F_ref - F_cur| dx."""
    points, f_ref, f_cur = _cdfs(reference, current, drop_last=True)
    return float(np.sum(np.abs(f_ref - f_cur) * np.diff(points)))


METHODS: dict[str, Callable[[Sample, Sample], float]] = {
    "psi": psi,
    "ks": ks,
    "wasserstein": wasserstein,
}


# --- reading ----------------------------------------------------------------------------


def reference_path(uri: str, version: str) -> str:
    """A data source's pinned version: `{version}` substituted, else `<uri>/<version>`."""
    if "{version}" in uri:
        return uri.replace("{version}", version)
    return uri.rstrip("/") + "/" + version


def read_table(uri: str, data_format: str, columns: list[str] | None = None) -> Any:
    """Read a file or folder as a pyarrow Table (all columns, or those of `columns` present).

    Local paths and file:// are read locally; other schemes (gs://, s3://) go to pyarrow as
    URIs. With `columns`, numeric columns are read as float64 so files that disagree on int
    vs float still combine; a jsonl column absent from the data then reads as all null.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.dataset as ds

    if data_format not in READERS:
        raise ValueError(
            f"cannot read format {data_format!r}; the drift job reads {', '.join(READERS)}"
        )
    path = uri[len("file://") :] if uri.startswith("file://") else uri
    fmt: Any = READERS[data_format]
    schema = None
    if columns is not None and data_format == "jsonl":
        # The JSON reader infers types from the first file (and block), then fails on a
        # later 2.5 in an int64 column; an explicit schema reads every file the same way.
        schema = pa.schema([(name, pa.float64()) for name in columns])
    elif columns is not None and data_format == "csv":
        types = {name: pa.float64() for name in columns}
        fmt = ds.CsvFileFormat(convert_options=pa_csv.ConvertOptions(column_types=types))
    dataset = ds.dataset(path, format=fmt, schema=schema)
    if columns is None:
        return dataset.to_table()
    present = set(dataset.schema.names)
    return dataset.to_table(columns=[name for name in columns if name in present])


def _column(table: Any, name: str, side: str, path: str) -> FloatArray:
    """A table's column as float64 (nulls as NaN), or a ValueError naming the feature."""
    import pyarrow as pa

    if name not in table.column_names:
        have = ", ".join(table.schema.names) or "none"
        raise ValueError(
            f"feature {name!r} is missing from the {side} data at {path} (its columns: {have})"
        )
    column = table.column(name)
    try:
        column = column.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(
            f"feature {name!r} in the {side} data at {path} is {column.type}, not numeric: {exc}"
        ) from exc
    return np.asarray(column.to_numpy(), dtype=np.float64)


# --- the run ----------------------------------------------------------------------------


def _source(config: dict[str, Any], key: str, default_format: str) -> dict[str, Any]:
    source = config.get(key)
    if not isinstance(source, dict):
        raise ValueError(f'config "{key}" must be an object with "uri" and "format"')
    if not isinstance(source.get("uri"), str) or not source["uri"]:
        raise ValueError(f'config "{key}.uri" must be a non-empty string')
    data_format = source.get("format", default_format)
    if data_format not in READERS:
        raise ValueError(
            f'config "{key}.format" is {data_format!r}; the drift job reads ' + ", ".join(READERS)
        )
    return {**source, "format": data_format}


def check_config(config: Any) -> None:
    """Raise a ValueError naming the first problem of a drift config."""
    if not isinstance(config, dict):
        raise ValueError("the config must be a JSON object")
    for key in ("model", "environment"):
        if not isinstance(config.get(key), str) or not config[key]:
            raise ValueError(f'config "{key}" must be a non-empty string')
    if config.get("method") not in METHODS:
        raise ValueError(
            f'config "method" is {config.get("method")!r}; use one of {", ".join(METHODS)}'
        )
    threshold = config.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError(f'config "threshold" must be a number, not {threshold!r}')
    features = config.get("features")
    if (
        not isinstance(features, list)
        or not features
        or not all(isinstance(f, str) and f for f in features)
    ):
        raise ValueError('config "features" must be a non-empty list of feature names')
    reference = _source(config, "reference", "parquet")
    if not isinstance(reference.get("version"), str) or not reference["version"]:
        raise ValueError('config "reference.version" must be a non-empty string')
    _source(config, "inputs", "jsonl")
    pushgateway = config.get("pushgateway")
    if pushgateway is not None and not isinstance(pushgateway, str):
        raise ValueError('config "pushgateway" must be a URL or null')


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Score every feature of the config; one result per feature, in the config's order."""
    check_config(config)
    features: list[str] = config["features"]
    method: str = config["method"]
    threshold = float(config["threshold"])
    reference = _source(config, "reference", "parquet")
    inputs = _source(config, "inputs", "jsonl")
    ref_path = reference_path(reference["uri"], reference["version"])
    ref_table = read_table(ref_path, reference["format"], features)
    cur_table = read_table(inputs["uri"], inputs["format"], features)
    results: list[dict[str, Any]] = []
    for feature in features:
        ref = _column(ref_table, feature, "reference", ref_path)
        cur = _column(cur_table, feature, "inference input", inputs["uri"])
        for values, side, path in (
            (ref, "reference", ref_path),
            (cur, "inference input", inputs["uri"]),
        ):
            if np.isnan(values).all():
                raise ValueError(
                    f"feature {feature!r} has no values in the {side} data at {path} "
                    "(it is missing or always null)"
                )
        score = METHODS[method](ref, cur)
        results.append(
            {
                "feature": feature,
                "method": method,
                "score": score,
                "threshold": threshold,
                "drifted": score > threshold,
            }
        )
    return results


# --- Prometheus -------------------------------------------------------------------------


def _label(value: str) -> str:
    """A label value escaped for the text exposition format."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
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
    lines += [f"modelkiln_drift_score{labels(r)} {_number(r['score'])}" for r in results]
    lines += [
        "# HELP modelkiln_drift_threshold The drift score above which a feature counts as drifted.",
        "# TYPE modelkiln_drift_threshold gauge",
    ]
    lines += [f"modelkiln_drift_threshold{labels(r)} {_number(r['threshold'])}" for r in results]
    lines += [
        "# HELP modelkiln_drift_last_run_timestamp_seconds Unix time of the drift job's last "
        "completed run.",
        "# TYPE modelkiln_drift_last_run_timestamp_seconds gauge",
        f"modelkiln_drift_last_run_timestamp_seconds{{{base}}} {_number(when)}",
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


# --- the command ------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="drift_job", description="Score a model's input drift and push it to Prometheus."
    )
    parser.add_argument("--config", required=True, help="the drift config (JSON)")
    parser.add_argument(
        "--dry-run", action="store_true", help="compute and print, but push nothing"
    )
    args = parser.parse_args(argv)

    import pyarrow as pa

    try:
        with open(args.config, encoding="utf-8") as handle:
            config = json.load(handle)
        check_config(config)
        results = compute(config)
    except (OSError, ValueError, TypeError, pa.ArrowException) as exc:
        print(f"drift_job: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    model: str = config["model"]
    environment: str = config["environment"]
    for result in results:
        print(json.dumps({"model": model, "environment": environment, **result}), flush=True)
    pushgateway = config.get("pushgateway")
    if pushgateway and not args.dry_run:
        body = exposition(model, environment, results, time.time())
        try:
            push(pushgateway, model, environment, body)
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"drift_job: error: pushing to {pushgateway}: {_one_line(exc)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
