"""Whole-process timings of the incremental drift gate on the 1,000-model, 2-environment
repository, each beside its floor.

BASE is a commit holding the specs and their compiled output (main, which passed the
gate); the pull request changes one Model's spec. Timed, each as a whole process, median
of several runs (wall clock, and the CPU time of the process and its children, which a
loaded machine disturbs less):

- `compile --check --changed-since main` on the recompiled pull request (the CI gate,
  target 1.0 s), and
- `compile --changed-since main` from BASE's output (the author's one-model compile,
  target 1.3 s),

beside the floors `modelkiln --version` (interpreter and CLI start) and `modelkiln
validate` (every spec read and checked, which the gate must do too). `--baseline DIR` also
times another checkout of modelkiln (e.g. a detached worktree of main) on the same
repository, run as `python -m compiler` with DIR first on PYTHONPATH.

Usage: python benchmarks/bench_gate.py [--runs 7] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.gen_repo import generate  # noqa: E402

GATE_TARGET = 1.0
CHANGED_SINCE_TARGET = 1.3
CHANGED = "models/model-0500.yaml"
IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *IDENTITY, *args], check=True, capture_output=True)


def base_repository(exe: list[str]) -> Path:
    """The repository at BASE: specs and output committed on main; then the PR's edit."""
    repo = generate(HERE / ".work" / "gate-1000", models=1000, envs=2)
    git(repo, "init", "-q", "-b", "main")
    subprocess.run([*exe, "compile", str(repo)], check=True, capture_output=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "specs and output")
    spec = repo / CHANGED
    spec.write_text(spec.read_text().replace("lr: 0.001", "lr: 0.002"))
    return repo


def timed(
    cmd: list[str],
    runs: int,
    ok: int = 0,
    env: dict[str, str] | None = None,
    before: Callable[[], None] | None = None,
) -> tuple[float, float]:
    """Medians of (wall, CPU) seconds of cmd as a whole process."""
    walls, cpus = [], []
    for _ in range(runs):
        if before is not None:
            before()
        start_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        # run from a neutral folder: `python -m compiler` would import ./compiler first
        proc = subprocess.run(cmd, capture_output=True, env=env, cwd=HERE / ".work")
        walls.append(time.perf_counter() - start)
        end_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(end_cpu.ru_utime - start_cpu.ru_utime + end_cpu.ru_stime - start_cpu.ru_stime)
        if proc.returncode != ok:
            raise SystemExit(
                f"{cmd} exited {proc.returncode}: {proc.stdout.decode()[-1500:]}"
                f"{proc.stderr.decode()[-1500:]}"
            )
    return statistics.median(walls), statistics.median(cpus)


def measure(label: str, exe: list[str], repo: Path, runs: int, env: dict[str, str]) -> None:
    out = str(repo)

    def from_base() -> None:  # the output as BASE has it: the changed model is stale
        git(repo, "checkout", "-q", "main", "--", "deploy")

    def compiled() -> None:
        from_base()
        subprocess.run(
            [*exe, "compile", out, "--changed-since", "main"],
            check=True,
            capture_output=True,
            env=env,
            cwd=HERE / ".work",
        )

    rows = [
        ("--version (start-up floor)", [*exe, "--version"], None, None),
        ("validate (floor)", [*exe, "validate", out], None, None),
        (
            "compile --changed-since main",
            [*exe, "compile", out, "--changed-since", "main"],
            from_base,
            CHANGED_SINCE_TARGET,
        ),
        (
            "compile --check --changed-since main",
            [*exe, "compile", out, "--check", "--changed-since", "main"],
            compiled,
            GATE_TARGET,
        ),
    ]
    print(f"\n{label}")
    print(f"  {'command':40} {'wall':>7} {'CPU':>7} {'target':>7}")
    for name, cmd, before, target in rows:
        if before is compiled:
            compiled()  # once: the check itself changes nothing
            before = None
        wall, cpu = timed(cmd, runs, env=env, before=before)
        verdict = "" if target is None else f"{target:6.1f}s {'ok' if wall < target else 'SLOW'}"
        print(f"  {name:40} {wall:6.2f}s {cpu:6.2f}s {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="another modelkiln checkout to compare")
    args = parser.parse_args()
    exe = [str(Path(sys.executable).with_name("modelkiln"))]
    repo = base_repository(exe)
    print(
        f"1,000 models x 2 environments; the pull request changes {CHANGED}; "
        f"medians of {args.runs} runs; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    measure("this checkout", exe, repo, args.runs, dict(os.environ))
    if args.baseline is not None:
        env = {**os.environ, "PYTHONPATH": str(args.baseline.resolve())}
        measure(
            f"baseline {args.baseline}", [sys.executable, "-m", "compiler"], repo, args.runs, env
        )
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
