"""Whole-process timing of `modelkiln compile` on the 1,000-model repository (2
environments, 2,000 pipelines), with a profile of where the time goes.

Usage: python benchmarks/bench_compile.py [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.gen_repo import generate  # noqa: E402

TARGET_SECONDS = 16.0  # Kapitan's time for 1,000 targets of plain templates on this machine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also profile one in-process run")
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("modelkiln"))
    repo = generate(HERE / ".work" / "repo-1000", models=1000, envs=2)
    samples = []
    for _ in range(args.runs):
        shutil.rmtree(repo / "deploy", ignore_errors=True)
        start = time.perf_counter()
        proc = subprocess.run([exe, "compile", str(repo)], capture_output=True, text=True)
        samples.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(proc.stdout + proc.stderr)
    files = sum(1 for p in (repo / "deploy").rglob("*") if p.is_file())
    median = statistics.median(samples)
    verdict = "ok" if median < TARGET_SECONDS else "SLOW"
    print(
        f"compile, 1,000 models x 2 environments ({files} files): median {median:.2f}s "
        f"of {args.runs} (target {TARGET_SECONDS:.0f}s) {verdict}"
    )
    if args.profile:
        from compiler.load import load
        from compiler.planner import build_plan
        from compiler.render import render
        from compiler.validate import validate

        profiler = cProfile.Profile()
        profiler.enable()
        plan = build_plan(validate(load(repo)).specs)
        render(plan, workers=1, parallel_from=10**9)  # one process, so the profile sees it all
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
