from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
SHARED = REPO.parent / "shared"
# The upstream schemas the tests use, vendored (tests/upstream/PROVENANCE.md).
UPSTREAM = REPO / "tests" / "upstream"
IN_CI = os.environ.get("CI") == "true"


def tool(name: str) -> str:
    """The path of an external tool the suite runs. Skipped where it is missing, except in
    CI (CI=true), where a missing tool fails: .ci/run installs every one."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not on PATH in CI; .ci/run must install it")
        pytest.skip(f"{name} is not on PATH")
    return path


def copy_example(tmp_path: Path, example: str) -> Path:
    """A private copy of an example repository that a test may change."""
    dest = tmp_path / example
    shutil.copytree(EXAMPLES / example, dest)
    return dest


def committed_example(tmp_path: Path, name: str = "work", example: str = "multi-cloud") -> Path:
    """A copy of an example as the first commit of a new git repository on main (with a
    test identity given on the command line, so no global git config is needed)."""
    repo = tmp_path / name
    shutil.copytree(EXAMPLES / example, repo)
    identity = ["-c", "user.name=Test", "-c", "user.email=t@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "specs"]):
        subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True)
    return repo


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    return copy_example(tmp_path, "quickstart")


@pytest.fixture
def promtool() -> str:
    return tool("promtool")
