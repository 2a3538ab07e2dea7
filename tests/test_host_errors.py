"""Problems of the user's machine are exit 3 with one line naming the path, never a
traceback (that only with --debug); compile --check writes nothing, so it runs on a
read-only checkout."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import EXE, run
from tests.conftest import copy_example

# Root passes every permission check; without these two capabilities it does not, so a
# read-only tree is read-only for the test too (util-linux setpriv; plain chmod otherwise).
SETPRIV = shutil.which("setpriv") if os.geteuid() == 0 else None


def _run_unprivileged(*args: str | Path) -> subprocess.CompletedProcess[str]:
    prefix = [SETPRIV, "--bounding-set=-dac_override,-dac_read_search", "--"] if SETPRIV else []
    return subprocess.run(
        [*prefix, EXE, *map(str, args)], capture_output=True, text=True, timeout=120
    )


def _assert_one_line(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 3, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("  hint:")]
    assert len(lines) == 1 and lines[0].startswith("modelkiln: error: "), proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mode, p.stat().st_size)
        for p in sorted(folder.rglob("*"))
    }


def _make_read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_output_folder_is_a_file(quickstart: Path) -> None:
    (quickstart / "deploy").write_text("not a folder\n")
    proc = run("compile", quickstart)
    _assert_one_line(proc, "output folder", str(quickstart / "deploy"), "is a file")
    assert (quickstart / "deploy").read_text() == "not a folder\n"


def test_out_below_a_file(quickstart: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    proc = run("compile", quickstart, "--out", afile / "sub")
    _assert_one_line(proc, str(afile), "is a file")
    assert afile.read_text() == "x"


def test_debug_shows_the_traceback(quickstart: Path) -> None:
    (quickstart / "deploy").write_text("x")
    proc = run("--debug", "compile", quickstart)
    assert proc.returncode == 3 and "Traceback" in proc.stderr and "HostError" in proc.stderr


@pytest.fixture
def read_only_checkout(tmp_path: Path) -> Iterator[Path]:
    repo = copy_example(tmp_path, "quickstart")
    _make_read_only(repo)
    yield repo
    for path in [repo, *repo.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_compile_on_a_read_only_checkout_is_exit_3(read_only_checkout: Path) -> None:
    before = _snapshot(read_only_checkout.parent)
    proc = _run_unprivileged("compile", read_only_checkout)
    _assert_one_line(proc, str(read_only_checkout / "deploy"), "Permission denied")
    assert _snapshot(read_only_checkout.parent) == before


def test_check_writes_nothing_on_a_read_only_checkout(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "quickstart")
    assert run("compile", repo).returncode == 0
    (repo / "models" / "fraud-detector.yaml").write_text(
        (repo / "models" / "fraud-detector.yaml")
        .read_text()
        .replace("canaryPercent: 10", "canaryPercent: 20")
    )
    _make_read_only(repo)
    before = _snapshot(tmp_path)
    stale = _run_unprivileged("compile", repo, "--check")
    assert _snapshot(tmp_path) == before, "compile --check wrote something"
    assert stale.returncode == 1, stale.stderr
    assert "changed  prod/models/fraud-detector/serving/inferenceservice.yaml" in stale.stdout
    for path in [repo, *repo.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
