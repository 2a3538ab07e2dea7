"""The output tree: pruning only what modelkiln wrote, hand-placed files, failed
compiles, and the --check drift gate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import run
from tests.conftest import EXAMPLES


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "mc"
    shutil.copytree(EXAMPLES / "multi-cloud", repo)
    assert run("compile", repo).returncode == 0
    return repo


def test_deleting_a_model_prunes_exactly_its_files(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    deploy = repo / "deploy"
    before = {p.relative_to(deploy).as_posix() for p in deploy.rglob("*") if p.is_file()}
    (repo / "models" / "churn.yaml").unlink()
    proc = run("compile", repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = {p.relative_to(deploy).as_posix() for p in deploy.rglob("*") if p.is_file()}
    assert before - after == {p for p in before if "/models/churn/" in p}
    assert not any((deploy / env / "models" / "churn").exists() for env in ("staging", "prod-us"))


def test_a_file_placed_by_hand_survives(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    notes = repo / "deploy" / "prod-us" / "models" / "churn" / "NOTES.md"
    notes.write_text("hand-written\n")
    readme = repo / "deploy" / "README.md"
    readme.write_text("deploy branch\n")
    (repo / "models" / "churn.yaml").unlink()
    assert run("compile", repo).returncode == 0
    assert notes.read_text() == "hand-written\n" and readme.read_text() == "deploy branch\n"


def test_failed_compile_leaves_previous_output_intact(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    deploy = repo / "deploy"
    snapshot = {p: p.read_bytes() for p in deploy.rglob("*") if p.is_file()}
    model = repo / "models" / "churn.yaml"
    model.write_text(model.read_text().replace("memory: 64Gi", "memory: 64GB"))
    proc = run("compile", repo)
    assert proc.returncode == 1 and "MK206" in proc.stdout
    assert {p: p.read_bytes() for p in deploy.rglob("*") if p.is_file()} == snapshot
    assert not list(repo.glob(".deploy.staging-*"))  # no staging folder left behind


def test_check_flips_when_a_spec_changes(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    ok = run("compile", repo, "--check")
    assert ok.returncode == 0 and "up to date" in ok.stdout
    model = repo / "models" / "churn.yaml"
    model.write_text(model.read_text().replace("version: 2.0.3", "version: 2.0.4"))
    stale = run("compile", repo, "--check")
    assert stale.returncode == 1
    assert "changed  prod-us/models/churn/pipeline.yaml" in stale.stdout
    assert "changed  manifest.json" in stale.stdout
    # --check changes nothing
    assert run("compile", repo, "--check").returncode == 1
    assert run("compile", repo).returncode == 0
    assert run("compile", repo, "--check").returncode == 0


def test_check_reports_a_hand_edited_artifact(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    isvc = repo / "deploy" / "prod-us" / "models" / "churn" / "serving" / "inferenceservice.yaml"
    isvc.write_text(isvc.read_text().replace("minReplicas: 1", "minReplicas: 5"))
    proc = run("compile", repo, "--check")
    assert proc.returncode == 1 and "changed  prod-us/models/churn/serving/" in proc.stdout


def test_a_compile_that_fails_while_rendering_leaves_the_output_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compiler import render
    from compiler.build import compile_repository

    repo = _repo(tmp_path)
    deploy = repo / "deploy"
    snapshot = {p: p.read_bytes() for p in deploy.rglob("*") if p.is_file()}
    model = repo / "models" / "churn.yaml"
    model.write_text(model.read_text().replace("version: 2.0.3", "version: 2.0.4"))
    real = render._render_batch
    calls = []

    def crash_on_second_batch(job: render.Job) -> dict[str, bytes]:
        calls.append(job)
        if len(calls) == 2:
            raise RuntimeError("the back end crashed halfway")
        return real(job)

    monkeypatch.setattr(render, "_render_batch", crash_on_second_batch)
    with pytest.raises(RuntimeError, match="halfway"):
        compile_repository(repo)
    assert len(calls) == 2  # the first batch was rendered and staged before the crash
    assert {p: p.read_bytes() for p in deploy.rglob("*") if p.is_file()} == snapshot
    assert not list(repo.glob(".deploy.staging-*"))
