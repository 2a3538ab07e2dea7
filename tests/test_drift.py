"""The drift job shipped to serving clusters: its measures, reading, metrics and command."""

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from compiler.targets.serving import drift_job

Measure = Callable[[drift_job.Sample, drift_job.Sample], float]
MEASURES: list[Measure] = [drift_job.psi, drift_job.ks, drift_job.wasserstein]


def normal(seed: int, mean: float = 0.0, n: int = 5000) -> npt.NDArray[np.float64]:
    return np.random.default_rng(seed).normal(mean, 1.0, n)


# --- the measures -----------------------------------------------------------------------


@pytest.mark.parametrize("measure", MEASURES)
def test_identical_samples_do_not_drift(measure: Measure) -> None:
    sample = normal(1)
    assert measure(sample, sample.copy()) == pytest.approx(0.0, abs=1e-12)


def test_a_shifted_normal_drifts() -> None:
    reference, current = normal(1), normal(2, mean=1.0)
    assert drift_job.psi(reference, current) > 0.2
    assert drift_job.ks(reference, current) > 0.3
    assert drift_job.wasserstein(reference, current) == pytest.approx(1.0, abs=0.1)


def test_a_sample_of_the_same_distribution_does_not_drift() -> None:
    reference, current = normal(1), normal(2)
    assert drift_job.psi(reference, current) < 0.1
    assert drift_job.ks(reference, current) < 0.05
    assert drift_job.wasserstein(reference, current) < 0.1


def test_psi_known_answer_on_hand_made_bins() -> None:
    # Reference quartile edges 2.5, 4.5, 6.5 -> four bins of 1/4 each; the current sample
    # puts 1/2, 1/2, 0, 0 in them, so the empty bins count with the epsilon floor.
    reference = [1, 2, 3, 4, 5, 6, 7, 8]
    current = [1, 2, 3, 4]
    eps = drift_job.EPSILON
    expected = 2 * (0.5 - 0.25) * np.log(0.5 / 0.25) + 2 * (eps - 0.25) * np.log(eps / 0.25)
    assert drift_job.psi(reference, current, bins=4) == pytest.approx(expected)


def test_psi_deduplicates_the_edges_of_a_discrete_feature() -> None:
    reference = [0.0] * 90 + [1.0] * 10
    assert drift_job.psi(reference, reference) == pytest.approx(0.0)
    assert drift_job.psi(reference, [0.0] * 50 + [1.0] * 50) > 0.2


def test_ks_and_wasserstein_known_answers() -> None:
    assert drift_job.ks([0, 1, 2], [10, 11, 12]) == 1.0
    assert drift_job.wasserstein([0, 1, 2], [10, 11, 12]) == pytest.approx(10.0)
    assert drift_job.ks([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(0.5)
    assert drift_job.wasserstein([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(2.0)


@pytest.mark.parametrize("measure", MEASURES)
def test_nan_and_none_are_dropped(measure: Measure) -> None:
    reference, current = normal(1, n=500), normal(2, n=500)
    with_gaps = [*reference.tolist(), None, float("nan")]
    assert measure(with_gaps, np.append(current, np.nan)) == measure(reference, current)


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("empty", [[], [float("nan"), None]])
def test_an_empty_sample_is_an_error(measure: Measure, empty: list[float | None]) -> None:
    with pytest.raises(ValueError, match="empty"):
        measure(empty, [1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        measure([1.0, 2.0], empty)


def test_psi_over_categories_known_answer() -> None:
    reference = ["a"] * 50 + ["b"] * 50 + [None] * 7  # None is dropped
    current = ["a"] * 80 + ["b"] * 20
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert drift_job.psi_categorical(reference, current) == pytest.approx(expected)
    assert drift_job.psi_categorical(reference, reference) == 0.0


def test_psi_over_categories_counts_a_new_category_with_the_floor() -> None:
    eps = drift_job.EPSILON
    score = drift_job.psi_categorical(["a"] * 10, ["a"] * 5 + ["new"] * 5)
    expected = (0.5 - 1.0) * np.log(0.5) + (0.5 - eps) * np.log(0.5 / eps)
    assert score == pytest.approx(expected)
    with pytest.raises(ValueError, match="empty"):
        drift_job.psi_categorical([None], ["a"])


def test_the_methods_table() -> None:
    methods = drift_job.METHODS
    assert methods == {
        "psi": drift_job.psi,
        "ks": drift_job.ks,
        "wasserstein": drift_job.wasserstein,
    }


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ks_and_wasserstein_agree_with_scipy(seed: int) -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(seed)
    reference = rng.normal(0.0, 1.0, int(rng.integers(5, 400)))
    current = rng.standard_t(3, int(rng.integers(5, 400))) + 0.3
    if seed % 2:  # ties within and across the samples
        reference, current = np.round(reference, 1), np.round(current, 1)
    assert drift_job.ks(reference, current) == pytest.approx(
        stats.ks_2samp(reference, current).statistic, abs=1e-9
    )
    assert drift_job.wasserstein(reference, current) == pytest.approx(
        stats.wasserstein_distance(reference, current), abs=1e-9
    )


# --- reading ----------------------------------------------------------------------------


def test_reference_path_follows_the_data_check() -> None:
    assert drift_job.reference_path("gs://b/fraud/", "v1") == "gs://b/fraud/v1"
    assert drift_job.reference_path("s3://b/{version}/x.parquet", "v2") == "s3://b/v2/x.parquet"


def test_read_table_reads_local_and_file_uris(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x,y\n1,a\n2,b\n")
    for uri in (str(tmp_path), f"file://{tmp_path}"):
        table = drift_job.read_table(uri, "csv")
        assert table.column("x").to_pylist() == [1, 2]
    with pytest.raises(ValueError, match="avro"):
        drift_job.read_table(str(tmp_path), "avro")


def test_jsonl_files_that_disagree_on_int_and_float_combine(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"x": 1, "s": "a"}\n{"x": 2}\n')
    (tmp_path / "b.jsonl").write_text('{"x": 2.5}\n')
    table = drift_job.read_table(str(tmp_path), "jsonl", ["x"])
    assert sorted(table.column("x").to_pylist()) == [1.0, 2.0, 2.5]


# --- the end-to-end run -----------------------------------------------------------------


@dataclass
class Pushgateway:
    url: str
    puts: list[tuple[str, str, str]] = field(default_factory=list)  # path, type, body
    status: int = 200


@pytest.fixture
def pushgateway() -> Iterator[Pushgateway]:
    gateway = Pushgateway(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            gateway.puts.append(
                (self.path, self.headers.get("Content-Type", ""), body.decode("utf-8"))
            )
            self.send_response(gateway.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def write_data(tmp_path: Path) -> tuple[Path, Path]:
    """A reference parquet under ref/v1/ and KServe-logger-style jsonl files under logs/."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    (tmp_path / "ref" / "v1").mkdir(parents=True)
    reference = pa.table(
        {
            "amount": rng.normal(100.0, 10.0, 4000),
            "age": rng.integers(18, 80, 4000),
            "country": ["NL"] * 4000,
        }
    )
    pq.write_table(reference, tmp_path / "ref" / "v1" / "part-0.parquet")
    logs = tmp_path / "logs"
    logs.mkdir()
    for part in range(3):
        lines = [
            json.dumps({"amount": float(amount), "age": int(age), "country": "NL"})
            for amount, age in zip(
                rng.normal(115.0, 10.0, 1000), rng.integers(18, 80, 1000), strict=True
            )
        ]
        (logs / f"{part:05d}.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path / "ref", logs


def write_config(tmp_path: Path, pushgateway: str | None, **changes: Any) -> str:
    reference, logs = write_data(tmp_path)
    config: dict[str, Any] = {
        "model": "fraud",
        "environment": "prod",
        "method": "psi",
        "threshold": 0.2,
        "features": ["amount", "age"],
        "reference": {"uri": str(reference), "format": "parquet", "version": "v1"},
        "inputs": {"uri": str(logs), "format": "jsonl"},
        "pushgateway": pushgateway,
    }
    config.update(changes)
    path = tmp_path / "drift.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_main_scores_prints_and_pushes(
    tmp_path: Path, pushgateway: Pushgateway, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, pushgateway.url)
    assert drift_job.main(["--config", config]) == 0

    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_feature = {line["feature"]: line for line in printed}
    assert list(by_feature) == ["amount", "age"]
    assert by_feature["amount"]["drifted"] is True
    assert by_feature["amount"]["score"] > by_feature["amount"]["threshold"] == 0.2
    assert by_feature["age"]["drifted"] is False
    assert by_feature["age"]["model"] == "fraud"

    assert len(pushgateway.puts) == 1
    path, content_type, body = pushgateway.puts[0]
    assert path == "/metrics/job/modelkiln-drift/model/fraud/environment/prod"
    assert content_type == "text/plain; version=0.0.4"
    labels = 'model="fraud",environment="prod",feature="amount",method="psi"'
    assert f"modelkiln_drift_score{{{labels}}} " in body
    pushed = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in body.splitlines()
        if not line.startswith("#")
    }
    score = pushed[f"modelkiln_drift_score{{{labels}}}"]
    assert score == pytest.approx(by_feature["amount"]["score"])
    assert score > pushed[f"modelkiln_drift_threshold{{{labels}}}"] == 0.2
    assert 'modelkiln_drift_last_run_timestamp_seconds{model="fraud",environment="prod"}' in body


def test_dry_run_pushes_nothing(tmp_path: Path, pushgateway: Pushgateway) -> None:
    config = write_config(tmp_path, pushgateway.url)
    assert drift_job.main(["--config", config, "--dry-run"]) == 0
    assert pushgateway.puts == []


def test_no_pushgateway_pushes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert drift_job.main(["--config", write_config(tmp_path, None)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


@pytest.mark.parametrize("method", ["ks", "wasserstein"])
def test_compute_with_the_other_methods(tmp_path: Path, method: str) -> None:
    config = json.loads(Path(write_config(tmp_path, None)).read_text())
    config["method"] = method
    config["threshold"] = 0.3 if method == "ks" else 5.0
    results = drift_job.compute(config)
    assert [(r["feature"], r["method"], r["drifted"]) for r in results] == [
        ("amount", method, True),
        ("age", method, False),
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"features": []}, "features"),
        ({"method": "chi2"}, "method"),
        ({"threshold": "high"}, "threshold"),
        ({"model": None}, "model"),
        ({"inputs": {"uri": "x", "format": "avro"}}, "inputs.format"),
        ({"inputs": {"uri": "x", "format": "kserve", "windowSeconds": 0}}, "windowSeconds"),
        (
            {"inputs": {"uri": "x", "format": "kserve", "windowSeconds": 60, "columns": "a"}},
            "columns",
        ),
        ({"categorical": ["amount"], "method": "ks"}, "psi"),
        ({"categorical": ["income"]}, "categorical"),
        ({"features": ["amount", "income"]}, "income"),
        ({"features": ["country"]}, "country"),
        ({"reference": {"uri": "/nonexistent/ref", "format": "parquet", "version": "v1"}}, ""),
    ],
)
def test_a_bad_config_or_unreadable_data_exits_2(
    tmp_path: Path,
    pushgateway: Pushgateway,
    capsys: pytest.CaptureFixture[str],
    changes: dict[str, Any],
    message: str,
) -> None:
    config = write_config(tmp_path, pushgateway.url, **changes)
    assert drift_job.main(["--config", config]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith("drift_job: error: ")
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert pushgateway.puts == []


def test_a_missing_or_unparsable_config_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert drift_job.main(["--config", str(tmp_path / "absent.json")]) == 2
    (tmp_path / "broken.json").write_text("{not json")
    assert drift_job.main(["--config", str(tmp_path / "broken.json")]) == 2
    (tmp_path / "list.json").write_text("[]")
    assert drift_job.main(["--config", str(tmp_path / "list.json")]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 3


def test_a_feature_missing_from_either_side_is_named(tmp_path: Path) -> None:
    config = json.loads(Path(write_config(tmp_path, None)).read_text())
    config["features"] = ["amount", "income"]
    with pytest.raises(ValueError, match="'income' is missing from the reference data"):
        drift_job.compute(config)
    (tmp_path / "ref" / "v1" / "part-0.parquet").unlink()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"amount": [1.0, 2.0], "income": [3.0, 4.0]}),
        tmp_path / "ref" / "v1" / "part-0.parquet",
    )
    with pytest.raises(ValueError, match="'income' has no values in the inference input"):
        drift_job.compute(config)


def test_a_failed_push_exits_1(
    tmp_path: Path, pushgateway: Pushgateway, capsys: pytest.CaptureFixture[str]
) -> None:
    pushgateway.status = 500
    assert drift_job.main(["--config", write_config(tmp_path, pushgateway.url)]) == 1
    assert "500" in capsys.readouterr().err


# --- the metrics ------------------------------------------------------------------------


def test_exposition_is_deterministic_and_escapes_labels() -> None:
    results: list[dict[str, Any]] = [
        {"feature": 'a"b\\c\nd', "method": "ks", "score": 0.5, "threshold": 0.1, "drifted": True}
    ]
    text = drift_job.exposition("m", "e", results, 1700000000.5)
    assert text == drift_job.exposition("m", "e", results, 1700000000.5)
    assert text.endswith("\n")
    labels = 'model="m",environment="e",feature="a\\"b\\\\c\\nd",method="ks"'
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples == [
        f"modelkiln_drift_score{{{labels}}} 0.5",
        f"modelkiln_drift_threshold{{{labels}}} 0.1",
        'modelkiln_drift_last_run_timestamp_seconds{model="m",environment="e"} 1700000000.5',
    ]
    for name in (
        "modelkiln_drift_score",
        "modelkiln_drift_threshold",
        "modelkiln_drift_last_run_timestamp_seconds",
    ):
        assert f"# TYPE {name} gauge" in text
        assert f"# HELP {name} " in text


def test_push_quotes_the_grouping_key(pushgateway: Pushgateway) -> None:
    drift_job.push(pushgateway.url + "/", "fraud v2", "eu/prod", "x 1\n")
    assert pushgateway.puts == [
        (
            "/metrics/job/modelkiln-drift/model/fraud%20v2/environment/eu%2Fprod",
            "text/plain; version=0.0.4",
            "x 1\n",
        )
    ]
