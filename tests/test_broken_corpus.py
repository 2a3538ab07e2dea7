"""The broken corpus: every folder under examples/broken is a spec repository with exactly the
mistakes its markers name, and the CLI reports exactly those, on exactly those lines.

A marker is a trailing YAML comment on the line a diagnostic must point at, e.g.
`gpusPerNode: "8"  # expect: MK203` (several codes: `# expect: MK201 MK202`). Where a marker
cannot be written (a file that is not UTF-8, a tab, ...), the case folder holds a file
EXPECTED with lines `relative/file.yaml:LINE: MKxxx`.

A case whose diagnostics are all warnings (e.g. `latency-not-a-bucket-warning`) is valid:
validate exits 0 and still reports exactly those warnings; every other case exits 1.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from compiler.load import load
from compiler.validate import validate
from tests.conftest import EXAMPLES

BROKEN = EXAMPLES / "broken"
EXE = str(Path(sys.executable).with_name("modelkiln"))
MARKER = re.compile(r"#\s*expect:\s*((?:MK\d{3}\b[ \t]*)+)")
EXPECTED_LINE = re.compile(r"(?P<file>.+):(?P<line>\d+):\s*(?P<codes>(?:MK\d{3}\b[ \t]*)+)\Z")

Expectation = tuple[str, int, str]  # (file relative to the case root, line, code)

# Cases whose diagnostic must carry a did-you-mean hint: case -> code of that diagnostic.
DID_YOU_MEAN = {
    "unknown-field-typo": "MK201",
    "override-unknown-field": "MK201",
    "invalid-framework-typo": "MK204",
    "unknown-kind-typo": "MK109",
    "unknown-data-source-typo": "MK302",
    "unknown-pool-typo": "MK303",
    "override-unknown-pool": "MK303",
    "policy-require-canary-names-undefined-environment": "MK304",
    "llm-unknown-family-typo": "MK245",
}


def _cases() -> list[Path]:
    return sorted(p for p in BROKEN.iterdir() if p.is_dir())


CASES = _cases()


def _expected(case: Path) -> set[Expectation]:
    """Every (file, line, code) that the markers and the EXPECTED file of a case name."""
    out: set[Expectation] = set()
    for path in sorted(p for p in case.rglob("*") if p.is_file()):
        rel = path.relative_to(case).as_posix()
        if rel == "EXPECTED":
            for raw in path.read_text(encoding="utf-8").splitlines():
                if not raw.strip() or raw.lstrip().startswith("#"):
                    continue
                match = EXPECTED_LINE.match(raw.strip())
                assert match, f"{case.name}/EXPECTED: cannot read {raw!r}"
                for code in match["codes"].split():
                    out.add((match["file"], int(match["line"]), code))
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue  # its expectations are in EXPECTED
        for number, line in enumerate(text.splitlines(), start=1):
            marker = MARKER.search(line)
            if marker:
                for code in marker.group(1).split():
                    out.add((rel, number, code))
    return out


@cache  # each case runs once; the did-you-mean tests read the same answer
def _validate(case: Path) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    proc = subprocess.run(
        [EXE, "validate", str(case), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert proc.stderr == "", proc.stderr
    payload: dict[str, Any] = json.loads(proc.stdout)
    diagnostics: list[dict[str, Any]] = payload["diagnostics"]
    errors = [d for d in diagnostics if d["severity"] == "error"]
    assert payload["valid"] is not bool(errors), f"{case.name}: valid with errors, or not valid"
    return proc, diagnostics


def _show(diagnostics: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"  {d['file']}:{d['line']}:{d['column']}: {d['code']}: {d['message']}" for d in diagnostics
    )


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert (BROKEN / "gpus-exceed-pool").is_dir()  # `make demo` runs it


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_reports_exactly_its_mistakes(case: Path) -> None:
    expected = _expected(case)
    assert expected, f"{case.name} names no expected diagnostic"
    proc, diagnostics = _validate(case)
    warnings_only = all(d["severity"] == "warning" for d in diagnostics)
    assert proc.returncode == (0 if warnings_only else 1), proc.stdout
    got = {(d["file"], d["line"], d["code"]) for d in diagnostics}
    missing, extra = sorted(expected - got), sorted(got - expected)
    assert got == expected, (
        f"missing: {missing}\nunexpected: {extra}\nreported:\n{_show(diagnostics)}"
    )
    for d in diagnostics:
        assert isinstance(d["column"], int) and d["column"] >= 1, d
        assert isinstance(d["message"], str) and d["message"].strip(), d


@pytest.mark.parametrize("case_name", sorted(DID_YOU_MEAN))
def test_did_you_mean_hints(case_name: str) -> None:
    code = DID_YOU_MEAN[case_name]
    _, diagnostics = _validate(BROKEN / case_name)
    hints = [d["hint"] for d in diagnostics if d["code"] == code]
    assert hints, _show(diagnostics)
    for hint in hints:
        assert isinstance(hint, str) and "did you mean" in hint, hint


def test_alias_bomb_is_refused_fast() -> None:
    root = BROKEN / "alias-bomb"
    validate(load(root))  # warm up: imports and the catalog are not what is measured
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        result = validate(load(root))
        best = min(best, time.perf_counter() - start)
    assert [d.code for d in result.diagnostics] == ["MK106"]
    assert best < 0.5, f"validating the alias bomb took {best:.3f}s"
