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
    (dsl.PIPELINE_JOB_ID_PLACEHOLDER); the job is named after it and labelled with it, so
    concurrent runs never share a job, and a retry of this step finds only its own job (a
    succeeded one is reused; a failed or abandoned one is deleted and replaced). The step
    prints every change of the job's conditions, raises when the job fails, and deletes the
    job it created when it stops watching it unfinished (timeout, SIGTERM, API failure).
    The trainer writes the model to storage_uri and may write metrics (JSON) to
    <storage_uri>/metrics.json; this step points its model artifact there and copies them.
    """
    import hashlib
    import json
    import re
    import signal
    import threading
    import time
    import uuid
    from typing import Any

    import urllib3
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + timeout_seconds
    poll_seconds = 15.0
    run_key = "modelkiln.dev/run-id"
    attempt_key = "modelkiln.dev/launcher-attempt"
    # The longest job name: Trainer v2.3.0 runs a TrainJob as a JobSet of the same name, and
    # the JobSet v0.12.0 webhook (pkg/webhooks/jobset_webhook.go) rejects a JobSet whose longest
    # pod name "<name>-node-<jobIndex>-<podIndex>-abcde" is not a DNS-1035 label (63): with the
    # torch runtime's replicated job "node", job index 0 and up to 10,000 nodes (4-digit pod
    # index) that leaves 63 - len("-node-0-") - 4 - len("-abcde") = 45. A PyTorchJob's longest
    # pod/service name, "<name>-worker-9999", fits as well.
    max_name = 45
    if not run_id.strip():
        raise ValueError("run_id is empty: every run would share one job")

    job = json.loads(manifest)
    kind = job["kind"]
    group, version = job["apiVersion"].split("/")
    plural = kind.lower() + "s"
    extra = []
    for key, value in sorted(json.loads(hyperparameters).items()):
        extra += [f"--{key}", str(value)]
    if kind == "TrainJob":
        trainer = job["spec"].setdefault("trainer", {})
        trainer["args"] = list(trainer.get("args", [])) + extra
    else:
        for replica in job["spec"]["pytorchReplicaSpecs"].values():
            for container in replica["template"]["spec"]["containers"]:
                container["args"] = list(container.get("args", [])) + extra

    # Deterministic per (model, run), readable, and collision-resistant: the model's job name
    # cut to fit, then 40 bits of a hash of the whole run id. It starts with a letter (the
    # TrainJob CRD requires an RFC 1035 label).
    digest = hashlib.sha256(run_id.encode()).hexdigest()
    stem = re.sub(r"[^a-z0-9-]+", "-", job["metadata"]["name"].lower()).lstrip("-0123456789")
    name = (stem[: max_name - 11].rstrip("-") or "job") + "-" + digest[:10]
    label_ok = len(run_id) <= 63 and re.fullmatch(
        r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", run_id
    )
    run_label = run_id if label_ok else "sha256-" + digest[:56]
    attempt = uuid.uuid4().hex
    meta = job["metadata"]
    meta["name"] = name
    meta["labels"] = {**meta.get("labels", {}), run_key: run_label}
    meta["annotations"] = {**meta.get("annotations", {}), attempt_key: attempt}
    namespace = meta.get("namespace")
    if not namespace:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as handle:
            namespace = meta["namespace"] = handle.read().strip()
    title = f"{kind} {namespace}/{name}"
    config.load_incluster_config()
    api = client.CustomObjectsApi()

    def say(text: str) -> None:
        print(f"[launcher] {title}: {text}", flush=True)

    def call(method: Any, *args: Any, **kwargs: Any) -> Any:
        """One API call; 429, 5xx and dropped connections are retried 5 times (1 s .. 16 s)."""
        for attempt_no in range(6):
            try:
                return method(*args, **kwargs)
            except ApiException as err:
                if err.status not in (429, 500, 502, 503, 504) or attempt_no == 5:
                    raise
                problem = f"HTTP {err.status} {err.reason}"
            except (urllib3.exceptions.HTTPError, ConnectionError) as err:
                if attempt_no == 5:
                    raise
                problem = repr(err)
            say(f"transient API error ({problem}), retrying in {2**attempt_no} s")
            time.sleep(2**attempt_no)
        raise AssertionError("unreachable")

    def get() -> Any:
        try:
            return call(api.get_namespaced_custom_object, group, version, namespace, plural, name)
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def token(found: Any) -> Any:
        """The attempt that created `found` (None for no object, or one not made here)."""
        return ((found or {}).get("metadata", {}).get("annotations") or {}).get(attempt_key)

    def delete(found: Any) -> None:
        """Delete this very object (uid precondition: never one created since) and what it
        owns (foreground: the name is free only once its pods are gone)."""
        options = client.V1DeleteOptions(
            propagation_policy="Foreground",
            preconditions=client.V1Preconditions(uid=found["metadata"]["uid"]),
        )
        try:
            call(
                api.delete_namespaced_custom_object,
                group,
                version,
                namespace,
                plural,
                name,
                body=options,
            )
        except ApiException as err:
            if err.status != 404:
                raise

    def outcome(found: Any) -> tuple[str, dict[str, Any]]:
        """("Complete" | "Failed" | "", the condition): TrainJob v2.3.0 reports Complete or
        Failed (pkg/apis/trainer/v1alpha1/trainjob_types.go), PyTorchJob v1.9 Succeeded or
        Failed (pkg/apis/kubeflow.org/v1/common_types.go)."""
        for cond in found.get("status", {}).get("conditions") or []:
            if cond.get("status") == "True" and cond.get("type") in ("Complete", "Succeeded"):
                return "Complete", cond
            if cond.get("status") == "True" and cond.get("type") == "Failed":
                return "Failed", cond
        return "", {}

    def report(found: Any, seen: dict[str, Any]) -> None:
        """Print each condition (Trainer: Suspended while Kueue holds it, Complete, Failed;
        PyTorchJob: Created, Running, Restarting, ...) and the pod counts when they change."""
        status = found.get("status", {})
        for cond in status.get("conditions") or []:
            shown = (cond.get("status"), cond.get("reason"), cond.get("message"))
            if seen.get(cond.get("type")) != shown:
                seen[cond.get("type")] = shown
                say(f"{cond.get('type')}={shown[0]} reason={shown[1]} message={shown[2]}")
        counts = status.get("jobsStatus", status.get("replicaStatuses"))
        if counts and seen.get("") != counts:
            seen[""] = counts
            say("jobs " + json.dumps(counts, sort_keys=True))

    def wait_gone(uid: str) -> None:
        while (found := get()) is not None and found["metadata"]["uid"] == uid:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{title} (earlier attempt) still deleting at the timeout")
            time.sleep(min(5.0, max(deadline - time.monotonic(), 0.0)))

    def held(found: Any) -> bool:
        """Suspended, e.g. by Kueue until it admits the job: the timeout starts only at the
        resume, as Trainer's own activeDeadlineSeconds does (v2.3.0
        pkg/controller/trainjob_controller.go reconcileDeadline)."""
        spec = found.get("spec", {})
        if spec.get("suspend") or (spec.get("runPolicy") or {}).get("suspend"):
            return True
        conditions = found.get("status", {}).get("conditions") or []
        return any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conditions)

    def watch() -> tuple[str, dict[str, Any]]:
        nonlocal deadline
        seen: dict[str, Any] = {}
        while True:
            found = get()
            if token(found) != attempt:
                raise RuntimeError(f"{title} was deleted or replaced by someone else")
            report(found, seen)
            if held(found):  # queued: the time in the queue does not count
                deadline = time.monotonic() + timeout_seconds
            result, cond = outcome(found)
            remaining = deadline - time.monotonic()
            if result or remaining <= 0:
                return result, cond
            time.sleep(min(poll_seconds, remaining))

    def write_outputs() -> str:
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
        return name

    earlier = get()
    if earlier is not None:
        labels = earlier["metadata"].get("labels") or {}
        if labels.get(run_key) != run_label:
            raise RuntimeError(
                f"{title} exists and is not this run's ({run_key}={labels.get(run_key)!r}, "
                f"this run is {run_label!r}); it is left alone"
            )
        result, _ = outcome(earlier)
        if result == "Complete":
            say("already completed by an earlier attempt of this run; reusing it")
            return write_outputs()
        say(f"replacing the {'failed' if result else 'unfinished'} job of an earlier attempt")
        delete(earlier)
        wait_gone(earlier["metadata"]["uid"])

    def on_sigterm(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # the run was cancelled: the cleanup below deletes

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if main else None
    finished = False
    try:
        try:
            call(api.create_namespaced_custom_object, group, version, namespace, plural, job)
            say(f"created for run {run_id}")
        except ApiException as err:
            if err.status != 409:
                raise
            # A create retried after a lost response finds its own object; anything else is
            # someone else's.
            if token(get()) != attempt:
                raise RuntimeError(f"{title} was created by someone else meanwhile") from err
        result, cond = watch()
        finished = bool(result)
        if result == "Failed":
            raise RuntimeError(
                f"{title} failed ({cond.get('reason')}): {cond.get('message')}; "
                "the job is kept for inspection"
            )
        if not result:
            raise TimeoutError(
                f"{title} did not finish within {timeout_seconds} s of its admission; deleted"
            )
        say("completed")
        return write_outputs()
    except BaseException:
        if not finished:
            try:
                found = get()
                if token(found) == attempt:
                    delete(found)
                    say("deleted: this step stopped watching it before it finished")
            except Exception as err:  # the original error matters more
                say(f"could not delete it: {err!r}")
        raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
