"""The GitOps loop on real git: commit-back, the deploy branch, concurrent pushes,
changed-since compiles. Temporary repositories and a bare remote; no mocks."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import run
from tests.conftest import committed_example


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Test", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def _bump(repo: Path, model: str, old: str, new: str) -> None:
    path = repo / "models" / f"{model}.yaml"
    path.write_text(path.read_text().replace(f"version: {old}", f"version: {new}"))


def test_commit_back_touches_only_the_output_and_is_idempotent(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    notes = repo / "NOTES.md"
    notes.write_text("staged, not to be committed\n")
    git(repo, "add", "NOTES.md")
    proc = run("commit", repo)
    assert proc.returncode == 0, proc.stderr
    assert "committed" in proc.stdout
    assert git(repo, "rev-list", "--count", "HEAD") == "2"
    files = git(repo, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert files and all(f.startswith("deploy/") for f in files)
    body = git(repo, "log", "-1", "--format=%B")
    first = git(repo, "rev-list", "--max-parents=0", "HEAD")
    assert f"Modelkiln-Source-Commit: {first}" in body
    assert "Modelkiln-Compiler: modelkiln " in body
    assert git(repo, "diff", "--cached", "--name-only") == "NOTES.md"  # still staged
    again = run("commit", repo)
    assert again.returncode == 0 and "no commit" in again.stdout
    assert git(repo, "rev-list", "--count", "HEAD") == "2"


def test_commit_refuses_uncommitted_specs(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    _bump(repo, "churn", "2.0.3", "2.0.4")
    proc = run("commit", repo)
    assert proc.returncode == 1 and "uncommitted changes" in proc.stderr
    assert git(repo, "rev-list", "--count", "HEAD") == "1"
    allowed = run("commit", repo, "--allow-dirty")
    assert allowed.returncode == 0
    manifest = json.loads(git(repo, "show", "HEAD:deploy/manifest.json"))
    assert manifest["sourceCommit"].endswith("-dirty")


def test_commit_to_a_deploy_branch_leaves_the_working_tree_alone(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    head = git(repo, "rev-parse", "HEAD")
    proc = run("commit", repo, "--branch", "deploy")
    assert proc.returncode == 0, proc.stderr
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / "deploy").exists()
    tree = git(repo, "ls-tree", "-r", "--name-only", "deploy").splitlines()
    assert "deploy/manifest.json" in tree and all(p.startswith("deploy/") for p in tree)
    assert run("commit", repo, "--branch", "deploy").stdout.strip().endswith("no commit")
    # a spec change becomes one more commit on the deploy branch, pruning what went away
    (repo / "models" / "churn.yaml").unlink()
    git(repo, "commit", "-q", "-am", "drop churn")
    assert run("commit", repo, "--branch", "deploy").returncode == 0
    assert git(repo, "rev-list", "--count", "deploy") == "2"
    tree = git(repo, "ls-tree", "-r", "--name-only", "deploy").splitlines()
    assert not any("/models/churn/" in p for p in tree)


def _remote_with_two_clones(tmp_path: Path) -> tuple[Path, Path, Path]:
    seed = committed_example(tmp_path, "seed")
    assert run("commit", seed).returncode == 0
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    a, b = tmp_path / "a", tmp_path / "b"
    git(tmp_path, "clone", "-q", str(bare), str(a))
    git(tmp_path, "clone", "-q", str(bare), str(b))
    return bare, a, b


def test_a_concurrent_push_is_retried_and_keeps_both_changes(tmp_path: Path) -> None:
    bare, a, b = _remote_with_two_clones(tmp_path)
    _bump(a, "churn", "2.0.3", "2.1.0")
    git(a, "commit", "-q", "-am", "churn 2.1.0")
    _bump(b, "recommender", "5.1.0", "5.2.0")
    git(b, "commit", "-q", "-am", "recommender 5.2.0")
    (b / "NOTES.md").write_text("staged in b, not committed\n")
    git(b, "add", "NOTES.md")
    (b / "scratch.txt").write_text("untracked in b\n")
    first = run("commit", a, "--push")
    assert first.returncode == 0 and "(pushed)" in first.stdout, first.stderr
    second = run("commit", b, "--push")
    assert second.returncode == 0, second.stderr
    assert "after 2 attempts" in second.stdout
    # what the person had in b's checkout is still there, as it was
    assert git(b, "diff", "--cached", "--name-only") == "NOTES.md"
    assert (b / "scratch.txt").read_text() == "untracked in b\n"
    assert git(b, "status", "--porcelain", "--", "deploy") == ""
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(bare), str(check))
    assert "version: 2.1.0" in (check / "models" / "churn.yaml").read_text()
    assert "version: 5.2.0" in (check / "models" / "recommender.yaml").read_text()
    isvc = check / "deploy" / "prod-us" / "models"
    assert (
        'modelkiln.dev/version: "2.1.0"'
        in (isvc / "churn/serving/inferenceservice.yaml").read_text()
    )
    assert (
        'modelkiln.dev/version: "5.2.0"'
        in (isvc / "recommender/serving/inferenceservice.yaml").read_text()
    )
    assert run("compile", check, "--check").returncode == 0
    log = git(check, "log", "--format=%s")
    assert "--force" not in log


def test_push_to_a_deploy_branch_on_the_remote(tmp_path: Path) -> None:
    bare, a, _ = _remote_with_two_clones(tmp_path)
    proc = run("commit", a, "--branch", "deploy", "--push")
    assert proc.returncode == 0 and "(pushed)" in proc.stdout, proc.stderr
    tree = git(bare, "ls-tree", "-r", "--name-only", "deploy").splitlines()
    assert "deploy/manifest.json" in tree


@pytest.mark.parametrize(
    ("change", "rendered"),
    [
        ("model", "churn"),
        ("source", "recommender"),
        ("pool", "recommender, ticket-router"),
        ("delete", "none"),
    ],
)
def test_changed_since_equals_a_full_compile(tmp_path: Path, change: str, rendered: str) -> None:
    repo = committed_example(tmp_path)
    assert run("compile", repo).returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "output")
    base = git(repo, "rev-parse", "HEAD")
    if change == "model":
        _bump(repo, "churn", "2.0.3", "2.0.4")
    elif change == "source":
        data = repo / "data" / "sources.yaml"
        data.write_text(data.read_text().replace('version: "2026-11-20"', 'version: "2026-11-25"'))
    elif change == "pool":
        pools = repo / "pools" / "serve.yaml"
        pools.write_text(pools.read_text().replace("maxNodes: 24", "maxNodes: 30"))
    else:
        (repo / "models" / "churn.yaml").unlink()
    partial = run("compile", repo, "--changed-since", base)
    assert partial.returncode == 0, partial.stderr
    tree = {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in (repo / "deploy").rglob("*")
        if p.is_file()
    }
    full_repo = tmp_path / "full"
    shutil.copytree(repo, full_repo, ignore=shutil.ignore_patterns("deploy", ".git"))
    assert run("compile", full_repo).returncode == 0
    full = {
        p.relative_to(full_repo).as_posix(): p.read_bytes()
        for p in (full_repo / "deploy").rglob("*")
        if p.is_file()
    }
    manifest = json.loads(tree.pop("deploy/manifest.json"))
    full_manifest = json.loads(full.pop("deploy/manifest.json"))
    assert tree == full
    assert manifest["outputs"] == full_manifest["outputs"]
    assert f"rendered models changed since the base: {rendered}\n" in partial.stdout


def test_deploy_branch_update_when_the_output_is_committed_on_main_too(tmp_path: Path) -> None:
    """The README's loop: the pull request commits specs and output to main, the merge
    publishes to deploy. The deploy branch's older output must not trip git rm's
    up-to-date check against the working tree's newer one."""
    repo = committed_example(tmp_path)
    assert run("commit", repo).returncode == 0
    assert run("commit", repo, "--branch", "deploy").returncode == 0
    _bump(repo, "churn", "2.0.3", "2.0.4")
    git(repo, "commit", "-q", "-am", "churn 2.0.4")
    assert run("commit", repo).returncode == 0
    proc = run("commit", repo, "--branch", "deploy")
    assert proc.returncode == 0, proc.stderr
    assert git(repo, "log", "-1", "--format=%s", "refs/heads/deploy") == "modelkiln: compile churn"
    assert git(repo, "status", "--porcelain") == ""
