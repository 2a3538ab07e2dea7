"""Whole-process timings of `modelkiln validate`, each against its floor.

Two floors, each a whole process over the same files: `parse` only reads them and runs
ruamel.yaml's C parser over every event (what modelkiln's loader is built on, the least
any loader that keeps positions can cost), and `safe load` builds plain Python objects
with ruamel.yaml's safe loader (what a YAML-reading tool usually pays). Reports the median
of several runs. Usage: python benchmarks/bench_validate.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.gen_repo import generate  # noqa: E402

PARSE_FLOOR = """
import sys, pathlib
from _ruamel_yaml import CParser
for p in sorted(pathlib.Path(sys.argv[1]).rglob("*.yaml")):
    parser = CParser(p.read_text())
    while parser.get_event() is not None and parser.check_event() is not None:
        pass
"""
SAFE_LOAD_FLOOR = """
import sys, pathlib
from ruamel.yaml import YAML
y = YAML(typ="safe")
for p in sorted(pathlib.Path(sys.argv[1]).rglob("*.yaml")):
    list(y.load_all(p.read_text()))
"""


def timed(cmd: list[str], runs: int, ok_codes: tuple[int, ...] = (0,)) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True)
        samples.append(time.perf_counter() - start)
        if proc.returncode not in ok_codes:
            raise SystemExit(f"{cmd} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("modelkiln"))
    work = HERE / ".work"
    big = generate(work / "repo-1000", models=1000, envs=2)
    cases = [
        ("quickstart", HERE.parent / "examples" / "quickstart", 0.4),
        ("1,000 models, 2 environments", big, 1.5),
    ]
    print(f"{'case':30} {'validate':>9} {'parse':>9} {'safe load':>10} {'target':>7}")
    for label, root, target in cases:
        median = timed([exe, "validate", str(root), "--format", "json"], args.runs)
        parse = timed([sys.executable, "-c", PARSE_FLOOR, str(root)], args.runs)
        safe = timed([sys.executable, "-c", SAFE_LOAD_FLOOR, str(root)], args.runs)
        verdict = "ok" if median < target else "SLOW"
        print(f"{label:30} {median:8.3f}s {parse:8.3f}s {safe:9.3f}s {target:6.1f}s {verdict}")


if __name__ == "__main__":
    main()
