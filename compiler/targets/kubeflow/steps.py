"""The code of modelkiln's built-in pipeline steps.

Each function is shipped by the kfp compiler as its own source text and runs in the step's
image, so each is self-contained: imports and helpers live inside it. The tests call the
same functions directly and through kfp.local. (No `from __future__ import annotations`:
kfp reads these signatures at compile time.)
"""

from kfp.dsl import Input, Metrics, Model, Output


def check_data(uri: str, data_format: str, version: str, contract: str) -> str:
    """Enforce a DataSource's contract on its pinned version; fail the step on a breach.

    contract is JSON: {"columns": [[name, type, nullable], ...], "quality": {"minRows",
    "maxNullFraction", "ranges", "freshnessSeconds"}}. Returns a JSON report.
    """
    import datetime
    import json

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    spec = json.loads(contract)
    columns = spec.get("columns", [])
    quality = spec.get("quality", {})
    path = (
        uri.replace("{version}", version)
        if "{version}" in uri
        else (uri.rstrip("/") + "/" + version)
    )
    readers = {"parquet": "parquet", "csv": "csv", "jsonl": "json"}
    if data_format not in readers:
        if columns or quality:
            raise RuntimeError(
                f"the built-in data check reads parquet, csv and jsonl, not {data_format}; "
                "remove the contract or check this source in the training step"
            )
        return json.dumps({"path": path, "checked": False})
    if "://" not in path:
        path = path  # a local path (tests, or a mounted volume)
    elif path.startswith("file://"):
        path = path[len("file://") :]
    table = ds.dataset(path, format=readers[data_format]).to_table()
    problems = []
    type_groups = {
        "int": pa.types.is_integer,
        "float": lambda t: pa.types.is_floating(t) or pa.types.is_integer(t),
        "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
        "bool": pa.types.is_boolean,
        "timestamp": lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t),
        "date": lambda t: pa.types.is_date(t) or pa.types.is_timestamp(t),
        "binary": lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t),
    }
    names = set(table.column_names)
    for name, typ, nullable in columns:
        if name not in names:
            problems.append(f"column {name} is missing")
            continue
        actual = table.schema.field(name).type
        if not type_groups[typ](actual):
            problems.append(f"column {name} is {actual}, the contract says {typ}")
        if not nullable and table.column(name).null_count > 0:
            problems.append(f"column {name} has {table.column(name).null_count} nulls")
    rows = table.num_rows
    if "minRows" in quality and rows < quality["minRows"]:
        problems.append(f"{rows} rows, fewer than minRows {quality['minRows']}")
    for name, limit in sorted(quality.get("maxNullFraction", {}).items()):
        if name not in names:
            problems.append(f"column {name} (maxNullFraction) is missing")
            continue
        fraction = table.column(name).null_count / rows if rows else 0.0
        if fraction > limit:
            problems.append(f"column {name} is {fraction:.4f} null, over {limit}")
    for name, (low, high) in sorted(quality.get("ranges", {}).items()):
        if name not in names:
            problems.append(f"column {name} (ranges) is missing")
            continue
        bounds = pc.min_max(table.column(name))
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        if lo is not None and (lo < low or hi > high):
            problems.append(f"column {name} spans [{lo}, {hi}], outside [{low}, {high}]")
    newest = None
    if "freshnessSeconds" in quality:
        stamp = next(
            (c[0] for c in columns if c[1] in ("timestamp", "date") and c[0] in names), None
        )
        if stamp is None:
            problems.append("freshness needs a timestamp or date column in the schema")
        else:
            value = pc.max(table.column(stamp)).as_py()
            if value is None:
                problems.append(f"column {stamp} has no values to judge freshness by")
            else:
                if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
                    value = datetime.datetime(value.year, value.month, value.day)
                if value.tzinfo is None:
                    value = value.replace(tzinfo=datetime.UTC)
                newest = value.isoformat()
                age = (datetime.datetime.now(datetime.UTC) - value).total_seconds()
                if age > quality["freshnessSeconds"]:
                    problems.append(
                        f"newest {stamp} is {age / 3600:.1f} h old, over the freshness limit "
                        f"of {quality['freshnessSeconds'] / 3600:.1f} h"
                    )
    report = {"path": path, "rows": rows, "newest": newest, "problems": problems}
    if problems:
        raise RuntimeError("data contract failed for " + path + ":\n- " + "\n- ".join(problems))
    return json.dumps(report, sort_keys=True)


def check_gates(metrics: Input[Metrics], gates: str) -> str:
    """Fail the run when a metric misses its gate. The metrics artifact's file holds a JSON
    object of metric name -> number; gates is JSON [{"metric", "min", "max"}]. Returns the
    JSON verdicts."""
    import json
    import math
    import os

    metrics_path = metrics.path
    with open(metrics_path, encoding="utf-8") as handle:
        measured = json.load(handle)
    if not isinstance(measured, dict):
        raise RuntimeError(f"{metrics_path} must hold a JSON object of metric: number")
    verdicts = []
    failed = []
    for gate in json.loads(gates):
        name = gate["metric"]
        value = measured.get(name)
        ok = (
            isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
        )
        if ok and gate.get("min") is not None and value < gate["min"]:
            ok = False
        if ok and gate.get("max") is not None and value > gate["max"]:
            ok = False
        verdicts.append({**gate, "value": value, "passed": ok})
        if not ok:
            bound = " and ".join(
                f"{word} {gate[key]}"
                for key, word in (("min", ">="), ("max", "<="))
                if gate.get(key) is not None
            )
            shown = "missing" if value is None else value
            failed.append(f"{name} = {shown}, needs {bound}")
    if failed:
        raise RuntimeError(
            f"evaluation gates failed ({os.path.basename(metrics_path)}): " + "; ".join(failed)
        )
    return json.dumps(verdicts, sort_keys=True)


def register_model(
    storage_uri: str, lineage: str, data_versions: str, metrics: Input[Metrics]
) -> str:
    """Record the model version and its lineage next to its storage URI, as
    <storageUri>/modelkiln-lineage.json (pyarrow's file systems: local, gs://, s3://)."""
    import json

    import pyarrow.fs as pafs

    metrics_path = metrics.path
    record = json.loads(lineage)
    record["dataVersions"] = json.loads(data_versions)
    try:
        with open(metrics_path, encoding="utf-8") as handle:
            record["metrics"] = json.load(handle)
    except FileNotFoundError:
        record["metrics"] = {}
    target = storage_uri.rstrip("/") + "/modelkiln-lineage.json"
    if "://" in target and not target.startswith("file://"):
        fs, path = pafs.FileSystem.from_uri(target)
    else:
        fs, path = pafs.LocalFileSystem(), target.removeprefix("file://")
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        out.write((json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return target


def launch_training_job(
    manifest: str,
    hyperparameters: str,
    storage_uri: str,
    run_id: str,
    timeout_seconds: int,
    model: Output[Model],
    metrics: Output[Metrics],
) -> str:
    """Submit a training job (a Kubeflow Trainer v2 TrainJob, or a Training Operator v1
    PyTorchJob) for this pipeline run and wait until it succeeds or fails.

    manifest: the job as JSON, as modelkiln rendered it. hyperparameters (JSON) are appended
    to the trainer's args as --name value, so a run can override them. run_id: the KFP run
    (dsl.PIPELINE_JOB_ID_PLACEHOLDER); the job is named after it, so concurrent runs never
    share a job. The trainer writes the model to storage_uri and may write metrics (JSON) to
    <storage_uri>/metrics.json; this step points its model artifact there and copies them.
    """
    import json
    import time

    from kubernetes import client, config

    job = json.loads(manifest)
    extra = []
    for name, value in sorted(json.loads(hyperparameters).items()):
        extra += [f"--{name}", str(value)]
    group, version = job["apiVersion"].split("/")
    plural = job["kind"].lower() + "s"
    if job["kind"] == "TrainJob":
        trainer = job["spec"].setdefault("trainer", {})
        trainer["args"] = list(trainer.get("args", [])) + extra
    else:
        for replica in job["spec"]["pytorchReplicaSpecs"].values():
            for container in replica["template"]["spec"]["containers"]:
                container["args"] = list(container.get("args", [])) + extra
    name = (job["metadata"]["name"][:40].rstrip("-") + "-" + run_id[:8]).lower()
    job["metadata"]["name"] = name
    config.load_incluster_config()
    api = client.CustomObjectsApi()
    namespace = job["metadata"]["namespace"]
    api.create_namespaced_custom_object(group, version, namespace, plural, job)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        status = api.get_namespaced_custom_object(group, version, namespace, plural, name)
        conditions = {c["type"]: c for c in status.get("status", {}).get("conditions", [])}
        if conditions.get("Complete", conditions.get("Succeeded", {})).get("status") == "True":
            with open(model.path, "w", encoding="utf-8") as handle:
                handle.write(storage_uri + "\n")
            found = "{}"
            try:
                import pyarrow.fs as pafs

                fs, path = pafs.FileSystem.from_uri(storage_uri.rstrip("/") + "/metrics.json")
                with fs.open_input_stream(path) as stream:
                    found = stream.read().decode()
            except Exception:  # no metrics written, or no access: the gates will say so
                found = "{}"
            with open(metrics.path, "w", encoding="utf-8") as handle:
                handle.write(found)
            return str(name)
        if conditions.get("Failed", {}).get("status") == "True":
            raise RuntimeError(
                f"{job['kind']} {name} failed: {conditions['Failed'].get('message')}"
            )
        time.sleep(30)
    raise TimeoutError(f"{job['kind']} {name} did not finish within {timeout_seconds} s")
