"""The built-in steps' code: data contracts on real parquet and CSV files, gates, lineage."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from compiler.targets.kubeflow import steps

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)


class _Artifact:
    """What kfp hands a step for an artifact input: an object with a local path."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)


def _table(rows: int = 100, nulls: int = 0, top: float = 99.0, age_hours: float = 1.0) -> Any:
    amounts = [float(i % 100) for i in range(rows)]
    amounts[0] = top
    merchants: list[str | None] = [f"m{i}" for i in range(rows)]
    for i in range(nulls):
        merchants[i] = None
    stamps = [NOW - datetime.timedelta(hours=age_hours + i) for i in range(rows)]
    return pa.table(
        {
            "amount": pa.array(amounts, pa.float64()),
            "merchant": pa.array(merchants, pa.string()),
            "label": pa.array([i % 2 for i in range(rows)], pa.int64()),
            "ts": pa.array(stamps, pa.timestamp("us", tz="UTC")),
        }
    )


CONTRACT = {
    "columns": [
        ["amount", "float", False],
        ["merchant", "string", True],
        ["label", "int", False],
        ["ts", "timestamp", False],
    ],
    "quality": {
        "minRows": 50,
        "maxNullFraction": {"merchant": 0.05},
        "ranges": {"amount": [0, 1000]},
        "freshnessSeconds": 24 * 3600,
    },
}


def _write(tmp_path: Path, table: Any, fmt: str, version: str = "v1") -> str:
    folder = tmp_path / "lake" / version
    folder.mkdir(parents=True)
    if fmt == "parquet":
        pq.write_table(table, folder / "part-0.parquet")
    else:
        pacsv.write_csv(table, folder / "part-0.csv")
    return str(tmp_path / "lake")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_contract_holds(tmp_path: Path, fmt: str) -> None:
    uri = _write(tmp_path, _table(), fmt)
    report = json.loads(steps.check_data(uri, fmt, "v1", json.dumps(CONTRACT)))
    assert report["rows"] == 100 and report["problems"] == []


@pytest.mark.parametrize(
    ("table", "contract_change", "words"),
    [
        (_table(rows=10), {}, "fewer than minRows"),
        (_table(nulls=20), {}, "merchant is 0.2000 null"),
        (_table(top=5000.0), {}, "outside [0, 1000]"),
        (_table(age_hours=48), {}, "freshness limit"),
        (_table().drop(["label"]), {}, "column label is missing"),
        (_table(), {"columns": [["amount", "int", False]]}, "the contract says int"),
    ],
)
def test_contract_breaches_fail_the_step(
    tmp_path: Path, table: Any, contract_change: dict[str, Any], words: str
) -> None:
    uri = _write(tmp_path, table, "parquet")
    contract = {**CONTRACT, **contract_change}
    with pytest.raises(RuntimeError) as err:
        steps.check_data(uri, "parquet", "v1", json.dumps(contract))
    assert words in str(err.value)


def test_version_placeholder_in_uri(tmp_path: Path) -> None:
    _write(tmp_path, _table(), "parquet", version="2026-11-01")
    uri = str(tmp_path / "lake" / "{version}")
    report = json.loads(steps.check_data(uri, "parquet", "2026-11-01", json.dumps(CONTRACT)))
    assert report["path"].endswith("lake/2026-11-01")


def test_unreadable_format_with_a_contract_fails() -> None:
    with pytest.raises(RuntimeError, match="reads parquet, csv and jsonl"):
        steps.check_data("bq://p.d.t", "bigquery", "v1", json.dumps(CONTRACT))
    assert json.loads(steps.check_data("bq://p.d.t", "bigquery", "v1", "{}"))["checked"] is False


def _metrics(tmp_path: Path, values: dict[str, Any]) -> Any:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(values))
    return _Artifact(path)


GATES = json.dumps(
    [{"metric": "auc", "min": 0.9, "max": None}, {"metric": "p99", "min": None, "max": 20}]
)


def test_gates_pass(tmp_path: Path) -> None:
    verdicts = json.loads(steps.check_gates(_metrics(tmp_path, {"auc": 0.93, "p99": 12}), GATES))
    assert [v["passed"] for v in verdicts] == [True, True]


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"auc": 0.85, "p99": 12}, "auc = 0.85, needs >= 0.9"),
        ({"auc": 0.95, "p99": 31}, "p99 = 31, needs <= 20"),
        ({"p99": 1}, "auc = missing"),
        ({"auc": "high", "p99": 1}, "auc = high"),
    ],
)
def test_gates_fail(tmp_path: Path, values: dict[str, Any], words: str) -> None:
    with pytest.raises(RuntimeError) as err:
        steps.check_gates(_metrics(tmp_path, values), GATES)
    assert words in str(err.value)


def test_register_writes_lineage_next_to_storage(tmp_path: Path) -> None:
    storage = tmp_path / "models" / "fraud" / "3.2.0"
    lineage = {"model": "fraud", "version": "3.2.0", "sourceCommit": "abc123"}
    target = steps.register_model(
        str(storage),
        json.dumps(lineage),
        json.dumps({"transactions": "2026-11-01"}),
        _metrics(tmp_path, {"auc": 0.93}),
    )
    record = json.loads(Path(target).read_text())
    assert record == {
        **lineage,
        "dataVersions": {"transactions": "2026-11-01"},
        "metrics": {"auc": 0.93},
    }
