"""Drift end to end: the drift job reads what KServe 0.20's request logger writes, in exactly
its format and layout (tests/kserve_logger.py), and scores known drift correctly; and the
rendered logger writes exactly where the rendered drift job reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from compiler import drift as flow
from compiler.targets.serving import drift_job, drift_logs, drift_measures
from tests import kserve_logger as kl
from tests.kfp_helpers import files_of, yaml_docs

NOW = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
NAMESPACE, ISVC = "ml-prod", "fraud"
LOG_URL = "gs://acme-logs/kserve"  # the logger's url; the test's bucket is a folder
CATEGORIES = ["grocery", "travel", "online"]


def v1(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps({"instances": rows}).encode()


def v2(amount: list[float], age: list[int], merchant: list[str]) -> bytes:
    n = len(amount)
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "inputs": [
                {"name": "amount", "shape": [n], "datatype": "FP64", "data": amount},
                {"name": "age", "shape": [n, 1], "datatype": "INT64", "data": [[a] for a in age]},
                {"name": "merchant", "shape": [n], "datatype": "BYTES", "data": merchant},
            ],
        }
    ).encode()


class Bucket:
    """A local stand-in for the log bucket: objects at <root>/<bucket>/<key>."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, batch: list[dict[str, Any]], *, log_url: str = LOG_URL) -> Path:
        bucket, key = kl.object_location(log_url, "requests", batch[0])
        path = self.root / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(kl.marshal_batch(batch))
        return path

    def folder(self) -> str:
        """Where the drift job reads: the rendered inputs.uri with the bucket made local."""
        return f"file://{self.root}/acme-logs/kserve/{NAMESPACE}/{ISVC}/predictor/requests"


def record(body: bytes, minutes_ago: float, **kw: Any) -> dict[str, Any]:
    return kl.log_request(
        body,
        id=str(uuid.uuid4()),
        when=NOW - timedelta(minutes=minutes_ago),
        isvc=ISVC,
        namespace=NAMESPACE,
        log_url=LOG_URL,
        **kw,
    )


def reference(tmp_path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(3)
    folder = tmp_path / "ref" / "v1"
    folder.mkdir(parents=True)
    table = pa.table(
        {
            "amount": rng.normal(100.0, 10.0, 5000),
            "age": rng.integers(18, 80, 5000),
            "merchant": list(rng.choice(CATEGORIES, 5000, p=[0.5, 0.3, 0.2])),
        }
    )
    pq.write_table(table, folder / "part-0.parquet")
    return tmp_path / "ref"


def logged_traffic(bucket: Bucket) -> dict[str, list[Any]]:
    """Requests in both protocols, single objects and batches, with known drift on amount
    (+1.5 sigma) and merchant; what the window holds is returned, the rest are distractors."""
    rng = np.random.default_rng(11)
    sent: dict[str, list[Any]] = {"amount": [], "age": [], "merchant": []}

    def sample(n: int) -> tuple[list[float], list[int], list[str]]:
        amount = [float(x) for x in rng.normal(115.0, 10.0, n)]
        age = [int(x) for x in rng.integers(18, 80, n)]
        merchant = [str(x) for x in rng.choice(CATEGORIES, n, p=[0.2, 0.3, 0.5])]
        sent["amount"] += amount
        sent["age"] += age
        sent["merchant"] += merchant
        return amount, age, merchant

    for i in range(60):  # V1, one request per object (batchSize 1): a single LogRequest
        amount, age, merchant = sample(10)
        rows = [
            {"amount": a, "age": g, "merchant": m}
            for a, g, m in zip(amount, age, merchant, strict=True)
        ]
        bucket.put([record(v1(rows), minutes_ago=5 + i)])
    for i in range(20):  # V2, batches of 5 (batchSize 5): a JSON array per object
        batch = [record(v2(*sample(8)), minutes_ago=100 + i * 5 + j) for j in range(5)]
        batch.insert(2, record(b"{}", minutes_ago=101, req_type=kl.RESPONSE))  # mode all
        bucket.put(batch)
    # outside the 24 h window: a record in a recent object, and an object not modified since
    stale = [{"amount": 1e6, "age": 1, "merchant": "stale"}]
    amount, age, merchant = sample(1)
    recent = v1([{"amount": amount[0], "age": age[0], "merchant": merchant[0]}])
    bucket.put([record(v1(stale), minutes_ago=3 * 24 * 60), record(recent, minutes_ago=1)])
    old = bucket.put([record(v1(stale * 50), minutes_ago=2 * 24 * 60)])
    then = (NOW - timedelta(days=2)).timestamp()
    os.utime(old, (then, then))
    # a response object (mode all writes them next to the requests) and a broken body
    bucket.put([record(v1(stale), minutes_ago=2, req_type=kl.RESPONSE)])
    bucket.put([record(b"not json", minutes_ago=3)])
    return sent


def config(tmp_path: Path, inputs_uri: str, **inputs: Any) -> dict[str, Any]:
    return {
        "model": ISVC,
        "environment": "prod",
        "method": "psi",
        "threshold": 0.2,
        "features": ["amount", "age", "merchant"],
        "categorical": ["merchant"],
        "reference": {"uri": str(reference(tmp_path)), "format": "parquet", "version": "v1"},
        "inputs": {"uri": inputs_uri, "format": "kserve", "windowSeconds": 86400, **inputs},
        "pushgateway": None,
    }


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The job's clock at NOW, so the window is the test's."""
    real = drift_logs.read_logged_inputs

    def at_now(*args: Any, **kwargs: Any) -> drift_logs.LoggedInputs:
        return real(*args, **{**kwargs, "now": NOW})

    monkeypatch.setattr(drift_logs, "read_logged_inputs", at_now)
    return NOW


def test_the_job_scores_known_drift_from_the_loggers_objects(tmp_path: Path, now: datetime) -> None:
    bucket = Bucket(tmp_path / "buckets")
    sent = logged_traffic(bucket)
    results = {r["feature"]: r for r in drift_job.compute(config(tmp_path, bucket.folder()))}

    import pyarrow.parquet as pq

    ref = pq.read_table(tmp_path / "ref" / "v1").to_pydict()
    expected = {
        "amount": drift_measures.psi(ref["amount"], sent["amount"]),
        "age": drift_measures.psi(ref["age"], sent["age"]),
        "merchant": drift_measures.psi_categorical(ref["merchant"], sent["merchant"]),
    }
    for feature, score in expected.items():
        assert results[feature]["score"] == pytest.approx(score, rel=1e-12), feature
    assert results["amount"]["drifted"] and results["merchant"]["drifted"]
    assert not results["age"]["drifted"]
    assert results["amount"]["score"] > 0.5 and results["age"]["score"] < 0.05


def test_what_the_window_holds_and_what_is_skipped(tmp_path: Path) -> None:
    bucket = Bucket(tmp_path / "buckets")
    sent = logged_traffic(bucket)
    logged = drift_logs.read_logged_inputs(
        bucket.folder(), ["amount", "age", "merchant"], None, 86400, now=NOW
    )
    assert logged.objects == 60 + 20 + 1 + 1  # the old object and the response are not read
    assert logged.requests == 60 + 20 * 5 + 1
    # objects are read in key order (random ids), so compare the values as multisets
    assert {k: sorted(v) for k, v in logged.values.items()} == {
        k: sorted(v) for k, v in sent.items()
    }
    assert logged.skipped == {
        "not a request": 20,
        "outside the window": 1,
        "the request body is not JSON: Expecting value: line 1 column 1 (char 0)": 1,
    }


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_positional_rows_are_named_by_columns(tmp_path: Path, protocol: str) -> None:
    bucket = Bucket(tmp_path / "buckets")
    rows = [[1.5, 30, "travel"], [2.5, 40, "online"]]
    if protocol == "v1":
        body = json.dumps({"instances": rows}).encode()
    else:
        flat = [v for row in rows for v in row]
        tensor = {"name": "input-0", "shape": [2, 3], "datatype": "BYTES", "data": flat}
        body = json.dumps({"inputs": [tensor]}).encode()
    bucket.put([record(body, minutes_ago=1)])
    features, columns = ["merchant", "amount"], ["amount", "age", "merchant"]
    logged = drift_logs.read_logged_inputs(bucket.folder(), features, columns, 3600, now=NOW)
    assert logged.values == {"merchant": ["travel", "online"], "amount": [1.5, 2.5]}
    unnamed = drift_logs.read_logged_inputs(bucket.folder(), features, None, 3600, now=NOW)
    assert unnamed.requests == 0 and "monitoring.drift.columns" in next(iter(unnamed.skipped))


def test_the_main_command_on_logger_objects(
    tmp_path: Path, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = Bucket(tmp_path / "buckets")
    logged_traffic(bucket)
    path = tmp_path / "drift.json"
    path.write_text(json.dumps(config(tmp_path, bucket.folder())))
    assert drift_job.main(["--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["feature"] for line in out.splitlines()] == [
        "amount",
        "age",
        "merchant",
    ]
    assert '"requests": 161' in err and "not a request" in err


def test_no_requests_in_the_window_is_an_error_naming_what_was_read(
    tmp_path: Path, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = Bucket(tmp_path / "buckets")
    bucket.put([record(v1([{"amount": 1.0}]), minutes_ago=3 * 24 * 60)])
    path = tmp_path / "drift.json"
    path.write_text(json.dumps(config(tmp_path, bucket.folder())))
    assert drift_job.main(["--config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("drift_job: error: feature 'amount' has no values in the inference")
    assert '"outside the window": 1' in err


def test_go_marshalling_of_a_log_request() -> None:
    """The helper writes what encoding/json writes for a LogRequest (types.go)."""
    when = datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
    rec = kl.log_request(
        b'{"instances":[[1]]}', id="abc", when=when, isvc="m", namespace="n", log_url="s3://b/p"
    )
    text = kl.marshal_batch([rec]).decode()
    assert text.startswith('{"url":{"Scheme":"s3","Opaque":"","User":null,"Host":"b","Path":"/p"')
    assert '"bytes":"eyJpbnN0YW5jZXMiOltbMV1dfQ==","contentType":"application/json"' in text
    assert text.endswith('"occurrenceTime":"2026-01-02T03:04:05.12Z"}')
    assert kl.marshal_batch([rec, rec]).startswith(b"[{")
    assert kl.go_marshal({"a": "<&>"}) == b'{"a":"\\u003c\\u0026\\u003e"}'
    assert kl.object_location("s3://b/p", "requests", rec) == (
        "b",
        "p/n/m/predictor/requests/abc-request.json",
    )
    azure = "abfs://logs@acct.dfs.core.windows.net/x"
    assert kl.object_location(azure, "r", rec)[0] == "logs"


# --- the rendered pair ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "env", "model"),
    [("quickstart", "prod", "fraud-detector"), ("multi-cloud", "prod-eu", "recommender")],
)
def test_the_rendered_logger_writes_where_the_rendered_job_reads(
    example: str, env: str, model: str
) -> None:
    files = files_of(example)
    folder = f"{env}/models/{model}/serving/"
    isvc = yaml_docs(files[folder + "inferenceservice.yaml"])[0]
    config_map = yaml_docs(files[folder + "drift.yaml"])[0]
    logger = isvc["spec"]["predictor"]["logger"]
    # the webhook's rule (component.go validateLogger), and the agent's blob store needs
    # (cmd/agent/main.go: a non-http url and a storage path; the JSON marshaller)
    storage = logger["storage"]
    assert logger["mode"] == "request"
    assert all(storage.get(k) is not None for k in ("path", "parameters", "key"))
    assert storage["parameters"] == {"format": "json"} and storage["serviceAccountName"]
    assert logger["url"].split("://")[0] in ("s3", "gs", "abfs")
    first = {
        "namespace": isvc["metadata"]["namespace"],
        "inferenceService": isvc["metadata"]["name"],
        "component": "predictor",
        "id": "0f9e",
        "reqType": kl.REQUEST,
    }
    bucket, key = kl.object_location(logger["url"], storage["path"], first)
    inputs = json.loads(config_map["data"]["drift.json"])["inputs"]
    scheme = logger["url"].split("://")[0]
    assert f"{scheme}://{bucket}/{key}".rsplit("/", 1) == [inputs["uri"], "0f9e-request.json"]
    assert inputs["format"] == "kserve"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("s3://logs/kserve", None),
        ("gs://logs", None),
        ("abfs://logs@acct.dfs.core.windows.net/kserve", None),
        ("abfs://acct.dfs.core.windows.net/kserve", "abfs://<container>@"),
        ("abfss://logs@acct.dfs.core.windows.net/kserve", "s3://, gs:// or abfs://"),
        ("s3a://logs/kserve", "s3://, gs:// or abfs://"),
        ("https://logs.acme.internal/kserve", "s3://, gs:// or abfs://"),
        ("hf://acme/model/inference-log", "s3://, gs:// or abfs://"),
        ("pvc://models/fraud/inference-log", "s3://, gs:// or abfs://"),
        ("s3:///kserve", "no bucket"),
    ],
)
def test_the_log_urls_kserves_logger_can_store_to(url: str, problem: str | None) -> None:
    found = flow.log_url_problem(url)
    assert found == problem if problem is None else problem in (found or "")


def test_the_log_url_template() -> None:
    template = "{storageUri}/logs/{environment}/{model}/"
    url = flow.logger_url(template, "gs://models/fraud/1.0.0/", "fraud", "prod")
    assert url == "gs://models/fraud/1.0.0/logs/prod/fraud"
    assert flow.reads_from(url, "ml-prod", "fraud") == (
        "gs://models/fraud/1.0.0/logs/prod/fraud/ml-prod/fraud/predictor/requests"
    )


def test_the_job_runs_as_a_script_from_the_configmaps_files(tmp_path: Path) -> None:
    """As the CronJob runs it: the ConfigMap's files in one folder, `python drift_job.py`,
    which imports its modules as siblings (not as modelkiln's package)."""
    from compiler.targets.serving import drift

    mount = tmp_path / "etc-modelkiln"
    mount.mkdir()
    for name, text in drift.scripts().items():
        (mount / name).write_text(text)
    bucket = Bucket(tmp_path / "buckets")
    logged_traffic(bucket)
    ten_years = 10 * 365 * 86400  # the records' times are fixed; the run's clock is not
    (mount / "drift.json").write_text(
        json.dumps(config(tmp_path, bucket.folder(), windowSeconds=ten_years))
    )
    proc = subprocess.run(
        [sys.executable, str(mount / "drift_job.py"), "--config", str(mount / "drift.json")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": "", "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["feature"] for line in proc.stdout.splitlines()] == [
        "amount",
        "age",
        "merchant",
    ]
