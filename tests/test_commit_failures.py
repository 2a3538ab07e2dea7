"""`modelkiln commit` when something says no: no git identity, a hook, the remote. Exit 3
with one line (and a hint), never a traceback, and the checkout exactly as it was: the
same HEAD, the same index (what the person had staged stays staged, nothing more), the
same output folder. Real repositories and a bare remote; no mocks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from compiler.errors import HostError
from compiler.gitops.commit import commit
from tests.cli_helpers import EXE
from tests.conftest import committed_example

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **IDENTITY},
    )
    return proc.stdout


def modelkiln(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *map(str, args)], capture_output=True, text=True, env=env, timeout=180
    )


def with_identity() -> dict[str, str]:
    return {**os.environ, **IDENTITY}


def without_identity(tmp_path: Path) -> dict[str, str]:
    """No user.name or user.email anywhere git looks, and no GIT_AUTHOR_* or EMAIL."""
    home = tmp_path / "empty-home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_", "GIT_CONFIG")) and k != "EMAIL"
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_GLOBAL="/dev/null",
        GIT_CONFIG_NOSYSTEM="1",
        # git would otherwise make up user@host.domain on machines whose name has a domain
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0="user.useConfigOnly",
        GIT_CONFIG_VALUE_0="true",
    )
    return env


def _person_at_work(repo: Path) -> None:
    """A checkout with a staged file, a staged and further edited file, an untracked one."""
    (repo / "NOTES.md").write_text("staged, not to be committed\n")
    readme = repo / "README.md"
    readme.write_text("first\n")
    git(repo, "add", "NOTES.md", "README.md")
    readme.write_text("first\nsecond, not staged\n")
    (repo / "scratch.txt").write_text("untracked\n")


def _bump_churn(repo: Path) -> None:
    path = repo / "models" / "churn.yaml"
    path.write_text(path.read_text().replace("version: 2.0.3", "version: 2.0.4"))
    git(repo, "commit", "-q", "-am", "churn 2.0.4")


def state(repo: Path) -> dict[str, object]:
    """Everything a failed commit must leave as it found it."""
    output = repo / "deploy"
    return {
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "staged": git(repo, "diff", "--cached"),
        "unstaged": git(repo, "diff"),
        "head": git(repo, "rev-parse", "HEAD"),
        "branches": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "output": {
            p.relative_to(output).as_posix(): p.read_bytes()
            for p in sorted(output.rglob("*"))
            if p.is_file()
        },
    }


def _one_error(proc: subprocess.CompletedProcess[str], code: int = 3) -> list[str]:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("modelkiln: error: ")
    assert all(line.startswith("  hint: ") for line in lines[1:]) and len(lines) <= 2
    return lines


@pytest.mark.parametrize("output_committed", [False, True])
def test_no_identity_leaves_the_checkout_as_it_was(tmp_path: Path, output_committed: bool) -> None:
    repo = committed_example(tmp_path)
    if output_committed:  # the output is there and would change
        assert modelkiln("commit", repo, env=with_identity()).returncode == 0
        _bump_churn(repo)
    _person_at_work(repo)
    before = state(repo)
    proc = modelkiln("commit", repo, env=without_identity(tmp_path))
    error, hint = _one_error(proc)
    assert "git has no identity to commit with" in error
    assert "git config --global user.name" in hint and "user.email" in hint
    assert state(repo) == before
    assert (repo / "deploy").exists() is output_committed


def test_no_identity_is_no_problem_when_there_is_nothing_to_commit(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    assert modelkiln("commit", repo, env=with_identity()).returncode == 0
    proc = modelkiln("commit", repo, env=without_identity(tmp_path))
    assert proc.returncode == 0 and "no commit" in proc.stdout, proc.stderr


def test_no_identity_with_a_deploy_branch(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    _person_at_work(repo)
    before = state(repo)
    proc = modelkiln("commit", repo, "--branch", "deploy", env=without_identity(tmp_path))
    error, _ = _one_error(proc)
    assert "git has no identity to commit with" in error
    assert state(repo) == before  # no deploy branch either


def test_a_failing_hook_leaves_the_checkout_as_it_was(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    assert modelkiln("commit", repo, env=with_identity()).returncode == 0
    _bump_churn(repo)
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'the hook says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    _person_at_work(repo)
    before = state(repo)
    proc = modelkiln("commit", repo, env=with_identity())
    (error,) = _one_error(proc)
    assert error == "modelkiln: error: git commit failed: the hook says no"
    assert state(repo) == before
    # once the hook agrees, the same command commits the output alone
    hook.write_text("#!/bin/sh\nexit 0\n")
    assert modelkiln("commit", repo, env=with_identity()).returncode == 0
    assert git(repo, "diff", "--cached", "--name-only").split() == ["NOTES.md", "README.md"]


def _remote(tmp_path: Path, hook: str | None = None) -> tuple[Path, Path]:
    """A bare remote of a committed repository and a clone of it."""
    seed = committed_example(tmp_path, "seed")
    assert modelkiln("commit", seed, env=with_identity()).returncode == 0
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    if hook is not None:
        path = bare / "hooks" / "pre-receive"
        path.write_text(hook)
        path.chmod(0o755)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    return bare, clone


def test_a_push_the_remote_refuses_is_taken_back(tmp_path: Path) -> None:
    bare, clone = _remote(tmp_path, hook="#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    _bump_churn(clone)
    _person_at_work(clone)
    before = state(clone)
    proc = modelkiln("commit", clone, "--push", env=with_identity())
    (error,) = _one_error(proc)
    assert "git push to origin failed: ! [remote rejected]" in error
    assert "pre-receive hook declined" in error
    assert state(clone) == before  # the output commit taken back, the output as it was

    proc = modelkiln("commit", clone, "--branch", "deploy", "--push", env=with_identity())
    _one_error(proc)
    assert state(clone) == before  # the local deploy branch is not left behind
    assert "deploy" not in git(bare, "branch", "--list")


def test_a_remote_that_keeps_moving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rejected because the remote moved, with no retries left: HostError, checkout intact."""
    bare, clone = _remote(tmp_path)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare), str(other))
    (other / "CHANGELOG.md").write_text("someone else's change\n")
    git(other, "add", "CHANGELOG.md")
    git(other, "commit", "-q", "-m", "meanwhile")
    git(other, "push", "-q", "origin", "main")
    _bump_churn(clone)
    _person_at_work(clone)
    before = state(clone)
    monkeypatch.setattr("compiler.gitops.commit.RETRIES", 0)
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(HostError, match=r"rejected 1 times: main kept moving"):
        commit(clone, push=True)
    assert state(clone) == before


def test_a_fetch_that_fails(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    before = state(repo)
    proc = modelkiln(
        "commit", repo, "--branch", "deploy", "--push", "--remote", "nowhere", env=with_identity()
    )
    (error,) = _one_error(proc)
    assert error.startswith("modelkiln: error: git fetch failed: ")
    assert "nowhere" in error
    assert state(repo) == before


def test_uncommitted_specs_are_refused_with_a_hint(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    path = repo / "models" / "churn.yaml"
    path.write_text(path.read_text().replace("version: 2.0.3", "version: 2.0.4"))
    before = state(repo)
    proc = modelkiln("commit", repo, env=with_identity())
    error, hint = _one_error(proc, code=1)
    assert error == "modelkiln: error: the specs have uncommitted changes (models/churn.yaml)"
    assert "--allow-dirty" in hint
    assert state(repo) == before
