"""Validation semantics beyond single mistakes: overrides, de-duplication, policies."""

from __future__ import annotations

from pathlib import Path

from compiler.diagnostics import Diagnostic
from compiler.load import load
from compiler.validate import deep_merge, validate
from tests.conftest import EXAMPLES


def _run(root: Path) -> list[Diagnostic]:
    return validate(load(root)).diagnostics


def _line_of(path: Path, needle: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_deep_merge_semantics() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert deep_merge(base, {"a": {"c": [3]}, "d": None}) == {"a": {"b": 1, "c": [3]}, "d": None}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}  # not mutated


def test_override_problem_points_into_override(quickstart: Path) -> None:
    model = quickstart / "models" / "fraud-detector.yaml"
    model.write_text(
        model.read_text()
        + "  environments:\n    prod:\n      serving:\n        slo: {availability: 100}\n"
    )
    (diag,) = _run(quickstart)
    assert diag.code == "MK210"
    assert diag.line == _line_of(model, "availability: 100")
    assert "environment 'prod'" in diag.message


def test_base_problem_reported_once_across_environments(tmp_path: Path) -> None:
    import shutil

    repo = tmp_path / "mc"
    shutil.copytree(EXAMPLES / "multi-cloud", repo)
    model = repo / "models" / "churn.yaml"
    model.write_text(model.read_text().replace("memory: 64Gi", "memory: 64GB"))
    diags = _run(repo)
    assert [(d.code, d.line) for d in diags] == [("MK206", _line_of(model, "64GB"))]


def test_override_for_unknown_environment(quickstart: Path) -> None:
    model = quickstart / "models" / "fraud-detector.yaml"
    model.write_text(model.read_text() + "  environments:\n    prd:\n      data: []\n")
    (diag,) = _run(quickstart)
    assert (diag.code, diag.line) == ("MK304", _line_of(model, "prd:"))
    assert diag.hint == "did you mean 'prod'?"


def test_pool_missing_from_environment_named(tmp_path: Path) -> None:
    import shutil

    repo = tmp_path / "mc"
    shutil.copytree(EXAMPLES / "multi-cloud", repo)
    model = repo / "models" / "ticket-router.yaml"
    text = model.read_text()
    model.write_text(text[: text.index("  environments:")])  # drop the prod-eu override
    diags = _run(repo)
    assert [d.code for d in diags] == ["MK308"]
    assert "prod-eu" in diags[0].message and diags[0].line == _line_of(model, "pool: l4-serve")


def test_monthly_cost_policy(quickstart: Path) -> None:
    project = quickstart / "modelkiln.yaml"
    project.write_text(
        project.read_text().replace("maxMonthlyCostUsd: 25000", "maxMonthlyCostUsd: 100")
    )
    (diag,) = _run(quickstart)
    assert diag.code == "MK404" and diag.file == "modelkiln.yaml"
    assert "a100-train" in diag.message and "prod" in diag.message


def test_schema_errors_in_one_document_do_not_hide_others(quickstart: Path) -> None:
    pools = quickstart / "pools" / "gpu-pools.yaml"
    pools.write_text(pools.read_text().replace("gpusPerNode: 1", "gpuPerNode: 1"))
    data = quickstart / "data" / "transactions.yaml"
    data.write_text(data.read_text().replace("freshness: 24h", "freshness: 1 day"))
    codes = sorted(d.code for d in _run(quickstart))
    # the misspelt field is reported with a hint, the missing one it stands for is not
    assert codes == ["MK201", "MK207"]
