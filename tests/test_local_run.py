"""The built-in steps, as the compiled pipelines ship them, run locally with kfp.local.

(No `from __future__ import annotations` here: kfp reads the component signatures.)
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kfp import dsl, local
from kfp.dsl import Metrics, Output

from compiler.plan import StepImages
from compiler.targets.kubeflow.components import builtin

# The test environment already holds pyarrow and kfp: no installs while a step starts,
# exactly as on an air-gapped cluster with prepared images.
IMAGES = StepImages("python:3.11", "python:3.11", "python:3.11", "python:3.11", False)


@pytest.fixture(autouse=True)
def local_runner(tmp_path: Path) -> Iterator[None]:
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    cwd = os.getcwd()
    os.chdir(tmp_path)  # kfp.local writes its outputs under the working directory
    try:
        yield
    finally:
        os.chdir(cwd)


@dsl.component(base_image="python:3.11")
def emit_metrics(values: str, metrics: Output[Metrics]) -> None:
    with open(metrics.path, "w") as handle:
        handle.write(values)


def _pipeline(auc: float, storage: str) -> Any:
    gates = json.dumps([{"metric": "auc", "min": 0.9, "max": None}])

    @dsl.pipeline
    def evaluate_and_register(values: str = json.dumps({"auc": auc})) -> None:
        emitted = emit_metrics(values=values)
        gate = builtin("check_gates", IMAGES)(metrics=emitted.outputs["metrics"], gates=gates)
        builtin("register_model", IMAGES)(
            storage_uri=storage,
            lineage=json.dumps({"model": "fraud", "version": "1.0.0"}),
            data_versions=json.dumps({"transactions": "v1"}),
            metrics=emitted.outputs["metrics"],
        ).after(gate)

    return evaluate_and_register


def test_data_check_runs_locally(tmp_path: Path) -> None:
    (tmp_path / "lake" / "v1").mkdir(parents=True)
    pq.write_table(pa.table({"amount": [1.0, 2.0, 3.0]}), tmp_path / "lake" / "v1" / "p.parquet")
    contract = {"columns": [["amount", "float", False]], "quality": {"minRows": 3}}
    task = builtin("check_data", IMAGES)(
        uri=str(tmp_path / "lake"),
        data_format="parquet",
        version="v1",
        contract=json.dumps(contract),
    )
    assert json.loads(task.output)["rows"] == 3


def test_data_check_failure_fails_the_local_run(tmp_path: Path) -> None:
    (tmp_path / "lake" / "v1").mkdir(parents=True)
    pq.write_table(pa.table({"amount": [1.0]}), tmp_path / "lake" / "v1" / "p.parquet")
    contract = {"columns": [], "quality": {"minRows": 3}}
    with pytest.raises(RuntimeError):
        builtin("check_data", IMAGES)(
            uri=str(tmp_path / "lake"),
            data_format="parquet",
            version="v1",
            contract=json.dumps(contract),
        )


def test_gate_then_register_runs_locally(tmp_path: Path) -> None:
    storage = tmp_path / "models" / "fraud" / "1.0.0"
    _pipeline(0.95, str(storage))()
    record = json.loads((storage / "modelkiln-lineage.json").read_text())
    assert record["metrics"] == {"auc": 0.95}
    assert record["dataVersions"] == {"transactions": "v1"}


def test_missed_gate_stops_the_run_before_registration(tmp_path: Path) -> None:
    storage = tmp_path / "models" / "fraud" / "1.0.0"
    with pytest.raises(RuntimeError):
        _pipeline(0.5, str(storage))()
    assert not storage.exists()
