"""compiler.gitops.git, the one way modelkiln runs git, on real repositories."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from compiler.errors import HostError
from compiler.gitops.git import commit_of, git, git_or_none, reason, run_git, verb
from tests.cli_helpers import EXE
from tests.conftest import copy_example


def _repository(path: Path) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "a.txt").write_text("a\n")
    identity = ["-c", "user.name=Test", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(path), "add", "a.txt"], check=True)
    subprocess.run(["git", "-C", str(path), *identity, "commit", "-qm", "a"], check=True)
    return path


def test_a_failure_is_one_line_naming_the_command(tmp_path: Path) -> None:
    repo = _repository(tmp_path / "repo")
    with pytest.raises(HostError) as caught:
        git(repo, "-c", "core.quotePath=false", "show", "main:missing.txt")
    message = str(caught.value)
    assert message.startswith("git show failed: ")
    assert "missing.txt" in message and "\n" not in message


def test_an_expected_no_is_none(tmp_path: Path) -> None:
    repo = _repository(tmp_path / "repo")
    assert git_or_none(repo, "show", "main:missing.txt") is None
    assert git_or_none(repo, "show", "main:a.txt") == "a\n"
    head = git(repo, "rev-parse", "HEAD").strip()
    assert commit_of(repo, "main") == head
    assert commit_of(repo, "no-such-branch") is None
    assert commit_of(repo, "--all") is None  # never an option
    assert commit_of(tmp_path, "main") is None  # not a repository


def test_isolated_commands_ignore_an_inherited_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repository(tmp_path / "repo")
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "elsewhere"))
    inherited = run_git(repo, "ls-files")
    assert inherited.returncode == 0 and inherited.stdout == ""  # an empty, foreign index
    assert git(repo, "ls-files", isolated=True) == "a.txt\n"


def test_without_git_on_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HostError, match="cannot run git"):
        git_or_none(tmp_path, "status")


def test_the_reason_is_the_line_that_says_it() -> None:
    push = (
        "To /tmp/remote.git\n"
        " ! [rejected]        main -> main (fetch first)\n"
        "error: failed to push some refs to '/tmp/remote.git'\n"
        "hint: Updates were rejected because the remote contains work that you do\n"
    )
    assert reason(push) == "! [rejected]        main -> main (fetch first)"
    assert reason("warning: x\nfatal: bad revision 'nope'\n") == "bad revision 'nope'"
    assert reason("hint: a\nsomething odd\n") == "something odd"
    assert reason("") == "no reason given"


def test_the_verb_skips_git_options() -> None:
    assert verb(("-c", "core.hooksPath=/dev/null", "worktree", "add")) == "worktree"
    assert verb(("--work-tree=/tmp/x", "add", "-A")) == "add"
    assert verb(("--no-pager",)) == ""


def test_a_machine_without_git(tmp_path: Path) -> None:
    """diff needs git: exit 3, one line. compile does not: it records no source commit."""
    repo = copy_example(tmp_path, "quickstart")
    env = {**os.environ, "PATH": str(tmp_path / "no-tools")}
    proc = subprocess.run(
        [EXE, "diff", str(repo), "--base", "HEAD"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("modelkiln: error: cannot run git: ")
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([EXE, "compile", str(repo)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((repo / "deploy" / "manifest.json").read_text())["sourceCommit"] is None
