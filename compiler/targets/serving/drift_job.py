"""modelkiln's drift job: compare a model's logged inference inputs with its reference data.

This file is shipped verbatim in a ConfigMap, next to drift_measures.py, drift_logs.py and
drift_push.py, and run by a CronJob (in the image built from images/drift/) as

    python /etc/modelkiln/drift_job.py --config /etc/modelkiln/drift.json

so it imports only the standard library, numpy and pyarrow. The config is JSON:

    {"model": "fraud", "environment": "prod", "method": "psi", "threshold": 0.2,
     "features": ["amount", "merchant", ...], "categorical": ["merchant"],
     "reference": {"uri": "gs://bucket/fraud", "format": "parquet", "version": "v3"},
     "inputs": {"uri": "gs://logs/prod/fraud/predictor/requests", "format": "kserve",
                "windowSeconds": 86400, "columns": null},
     "pushgateway": "http://pushgateway.monitoring:9091"}

Inputs of format "kserve" are the objects of KServe's request logger (drift_logs.py), read
for the last windowSeconds; "parquet", "csv" and "jsonl" inputs are read as tables. For each
feature it scores the drift between the reference column and the inputs column (PSI over
categories for the categorical ones), prints one JSON line per feature, and pushes the
scores as Prometheus gauges to the Pushgateway (unless "pushgateway" is null or --dry-run is
given). Drift is reported through the metrics and their alert, not the exit code: the exit
code is 0 after a run, 2 for a bad config or unreadable data, 1 when the push fails.
"""

import argparse
import json
import math
import sys
import time
from typing import Any

import numpy as np

if __package__:  # imported as part of modelkiln (its tests)
    from . import drift_logs, drift_measures, drift_push
else:  # run as a script, next to them in the ConfigMap's folder
    import drift_logs  # type: ignore[import-not-found,no-redef]
    import drift_measures  # type: ignore[import-not-found,no-redef]
    import drift_push  # type: ignore[import-not-found,no-redef]

# The measures, re-exported: callers and tests use them as drift_job.psi and so on.
EPSILON = drift_measures.EPSILON
FloatArray = drift_measures.FloatArray
Sample = drift_measures.Sample
METHODS = drift_measures.METHODS
psi, ks, wasserstein = drift_measures.psi, drift_measures.ks, drift_measures.wasserstein
psi_categorical = drift_measures.psi_categorical

# The Pushgateway side, re-exported likewise.
JOB, exposition = drift_push.JOB, drift_push.exposition
push, push_url = drift_push.push, drift_push.push_url

READERS = {"parquet": "parquet", "csv": "csv", "jsonl": "json"}
KSERVE = "kserve"  # inputs written by KServe's request logger


# --- reading ----------------------------------------------------------------------------


def reference_path(uri: str, version: str) -> str:
    """A data source's pinned version: `{version}` substituted, else `<uri>/<version>`."""
    if "{version}" in uri:
        return uri.replace("{version}", version)
    return uri.rstrip("/") + "/" + version


def read_table(
    uri: str,
    data_format: str,
    columns: list[str] | None = None,
    categorical: tuple[str, ...] = (),
) -> Any:
    """Read a file or folder as a pyarrow Table (all columns, or those of `columns` present).

    Local paths and file:// are read locally; other schemes (gs://, s3://, abfss://) go to
    pyarrow as URIs. With `columns`, numeric columns are read as float64 so files that
    disagree on int vs float still combine, the `categorical` ones as strings; a jsonl
    column absent from the data then reads as all null.
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
    if columns is not None:
        types = {n: pa.string() if n in categorical else pa.float64() for n in columns}
        if data_format == "jsonl":
            # The JSON reader infers types from the first file (and block), then fails on a
            # later 2.5 in an int64 column; an explicit schema reads every file the same way.
            schema = pa.schema(list(types.items()))
        elif data_format == "csv":
            fmt = ds.CsvFileFormat(convert_options=pa_csv.ConvertOptions(column_types=types))
    dataset = ds.dataset(path, format=fmt, schema=schema)
    if columns is None:
        return dataset.to_table()
    present = set(dataset.schema.names)
    return dataset.to_table(columns=[name for name in columns if name in present])


def _column(table: Any, name: str, side: str, path: str, categorical: bool) -> Any:
    """A table's column as a float64 array (nulls as NaN) or, categorical, as a list of
    strings (nulls as None); a ValueError names the feature when it is missing or not
    numeric."""
    import pyarrow as pa

    if name not in table.column_names:
        have = ", ".join(table.schema.names) or "none"
        raise ValueError(
            f"feature {name!r} is missing from the {side} data at {path} (its columns: {have})"
        )
    column = table.column(name)
    if categorical:
        return [_category(v) for v in column.to_pylist()]
    try:
        column = column.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(
            f"feature {name!r} in the {side} data at {path} is {column.type}, not numeric: {exc}"
        ) from exc
    return np.asarray(column.to_numpy(), dtype=np.float64)


def _category(value: Any) -> str | None:
    """A categorical value as text, the same whether read from a table or a JSON request."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any) -> float:
    """A logged numeric value as a float: NaN for null, text or anything else not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def read_inputs(
    inputs: dict[str, Any], features: list[str], categorical: tuple[str, ...]
) -> tuple[dict[str, Any], str]:
    """Each feature's recent inputs (as _column gives them), and a note on what was read."""
    if inputs["format"] != KSERVE:
        table = read_table(inputs["uri"], inputs["format"], features, categorical)
        columns = {
            f: _column(table, f, "inference input", inputs["uri"], f in categorical)
            for f in features
        }
        return columns, inputs["uri"]
    logged = drift_logs.read_logged_inputs(
        inputs["uri"], features, inputs.get("columns"), float(inputs["windowSeconds"])
    )
    note = f"{inputs['uri']} ({json.dumps(logged.summary(), sort_keys=True)})"
    print(f"drift_job: read {note}", file=sys.stderr, flush=True)
    values = {
        f: [_category(v) for v in logged.values[f]]
        if f in categorical
        else np.array([_number(v) for v in logged.values[f]], dtype=np.float64)
        for f in features
    }
    return values, note


# --- the run ----------------------------------------------------------------------------


def _source(config: dict[str, Any], key: str, default_format: str, formats: Any) -> dict[str, Any]:
    source = config.get(key)
    if not isinstance(source, dict):
        raise ValueError(f'config "{key}" must be an object with "uri" and "format"')
    if not isinstance(source.get("uri"), str) or not source["uri"]:
        raise ValueError(f'config "{key}.uri" must be a non-empty string')
    data_format = source.get("format", default_format)
    if data_format not in formats:
        raise ValueError(
            f'config "{key}.format" is {data_format!r}; the drift job reads ' + ", ".join(formats)
        )
    return {**source, "format": data_format}


def _check_inputs(config: dict[str, Any]) -> None:
    inputs = _source(config, "inputs", KSERVE, [KSERVE, *READERS])
    if inputs["format"] != KSERVE:
        return
    window = inputs.get("windowSeconds")
    if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
        raise ValueError('config "inputs.windowSeconds" must be a positive number')
    columns = inputs.get("columns")
    if columns is not None and (
        not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns)
    ):
        raise ValueError('config "inputs.columns" must be a list of column names or null')


def _names(config: dict[str, Any], key: str, required: bool) -> list[str]:
    names = config.get(key, None if required else [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f'config "{key}" must be a list of feature names')
    if required and not names:
        raise ValueError(f'config "{key}" must be a non-empty list of feature names')
    return names


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
    features = _names(config, "features", required=True)
    categorical = _names(config, "categorical", required=False)
    if not set(categorical) <= set(features):
        raise ValueError('config "categorical" must name features only')
    if categorical and config["method"] != "psi":
        raise ValueError(f"categorical features are scored with psi, not {config['method']}")
    reference = _source(config, "reference", "parquet", READERS)
    if not isinstance(reference.get("version"), str) or not reference["version"]:
        raise ValueError('config "reference.version" must be a non-empty string')
    _check_inputs(config)
    pushgateway = config.get("pushgateway")
    if pushgateway is not None and not isinstance(pushgateway, str):
        raise ValueError('config "pushgateway" must be a URL or null')


def _empty(values: Any) -> bool:
    """True when a column has no value: all None (categorical) or all NaN (numeric)."""
    if isinstance(values, list):
        return all(v is None for v in values)
    return bool(np.isnan(values).all())


def _score(method: str, ref: Any, cur: Any, categorical: bool) -> float:
    if categorical:
        return psi_categorical(ref, cur)
    return METHODS[method](ref, cur)


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Score every feature of the config; one result per feature, in the config's order."""
    check_config(config)
    features: list[str] = config["features"]
    categorical = tuple(config.get("categorical", ()))
    method: str = config["method"]
    threshold = float(config["threshold"])
    reference = _source(config, "reference", "parquet", READERS)
    ref_path = reference_path(reference["uri"], reference["version"])
    ref_table = read_table(ref_path, reference["format"], features, categorical)
    inputs = _source(config, "inputs", KSERVE, [KSERVE, *READERS])
    current, cur_note = read_inputs(inputs, features, categorical)
    results: list[dict[str, Any]] = []
    for feature in features:
        is_category = feature in categorical
        ref = _column(ref_table, feature, "reference", ref_path, is_category)
        cur = current[feature]
        for values, side, path in (
            (ref, "reference", ref_path),
            (cur, "inference input", cur_note),
        ):
            if _empty(values):
                raise ValueError(
                    f"feature {feature!r} has no values in the {side} data at {path} "
                    "(it is missing or always null)"
                )
        score = _score(method, ref, cur, is_category)
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
