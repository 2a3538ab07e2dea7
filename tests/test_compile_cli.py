"""`modelkiln compile` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from compiler.output import sha256
from tests.cli_helpers import run
from tests.conftest import EXAMPLES, copy_example
from tests.kfp_helpers import files_of, read_tree


def test_compile_writes_the_rendered_tree(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "multi-cloud")
    proc = run("compile", repo)
    assert proc.returncode == 0, proc.stderr
    tree = read_tree(repo / "deploy")
    manifest = json.loads(tree.pop("manifest.json"))
    assert tree == files_of("multi-cloud")
    assert manifest["outputs"] == {p: sha256(d) for p, d in tree.items()}
    assert set(manifest["inputs"]) == {
        p.relative_to(repo).as_posix() for p in repo.rglob("*.yaml") if "deploy" not in p.parts
    }
    assert manifest["compiler"].startswith("modelkiln ") and manifest["sourceCommit"] is None
    assert "prod-us: 2 pipelines; GPUs 1-40;" in proc.stdout
    again = run("compile", repo)
    assert again.returncode == 0
    assert f"0 written, 0 pruned, {len(tree)} unchanged" in again.stdout


def test_compile_one_environment_to_another_folder(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "multi-cloud")
    out = tmp_path / "out"
    proc = run("compile", repo, "--env", "prod-eu", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert {p.split("/")[0] for p in read_tree(out)} == {"prod-eu", "argocd", "manifest.json"}
    assert {p for p in read_tree(out) if p.startswith("argocd/")} == {"argocd/prod-eu.yaml"}
    assert not (repo / "deploy").exists()
    # a later compile of another environment keeps (does not prune) this one
    assert run("compile", repo, "--env", "staging", "--out", out).returncode == 0
    assert {p.split("/")[0] for p in read_tree(out)} == {
        "prod-eu",
        "staging",
        "argocd",
        "manifest.json",
    }
    outputs = json.loads((out / "manifest.json").read_text())["outputs"]
    assert {p.split("/")[0] for p in outputs} == {"prod-eu", "staging", "argocd"}
    assert {p for p in outputs if p.startswith("argocd/")} == {
        "argocd/prod-eu.yaml",
        "argocd/staging.yaml",
    }


def test_unknown_environment_is_a_usage_error(tmp_path: Path) -> None:
    proc = run("compile", copy_example(tmp_path, "quickstart"), "--env", "prd")
    assert proc.returncode == 2 and "unknown environment prd" in proc.stderr


def test_invalid_specs_compile_nothing(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "quickstart")
    model = repo / "models" / "fraud-detector.yaml"
    model.write_text(model.read_text().replace("gpus: 4, cpu", "gpus: 16, cpu"))
    proc = run("compile", repo)
    assert proc.returncode == 1 and "MK305" in proc.stdout
    assert not (repo / "deploy").exists()


def test_validate_does_not_import_back_end_libraries() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from compiler.cli import main\n"
        f"result = CliRunner().invoke(main, ['validate', {str(EXAMPLES / 'multi-cloud')!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "names = ('kfp', 'jinja2', 'git', 'google.protobuf')\n"
        "heavy = sorted(m for m in names if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_compile_prints_warnings_on_stderr_and_succeeds(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "quickstart")
    model = repo / "models" / "fraud-detector.yaml"
    model.write_text(model.read_text().replace("latencyP99Ms: 100", "latencyP99Ms: 150"))
    proc = run("compile", repo, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "warning[MK330]" in proc.stderr and "latencyP99Ms: 150" in proc.stderr
    assert "MK330" not in proc.stdout
    github = run("compile", repo, "--out", tmp_path / "out", "--format", "github")
    assert github.returncode == 0 and "::warning file=models/fraud-detector.yaml" in github.stderr
