"""`modelkiln diff`: what a change to the specs does to the compiled output.

The base revision is compiled from a temporary, detached `git worktree` (removed afterwards,
whatever happens); the head is the working tree as it is on disk, uncommitted changes
included. The user's checkout, index and HEAD are never touched. Both sides go through the
compile phases in memory (compiler.build.plan_repository, then render) and are compared
(compare.py): models added, removed and changed per environment, GPU and monthly cost
ranges per environment, and a unified diff of every artifact. The version gate (gate.py)
refuses a change to a model's training, data or evaluation that does not raise its
`spec.version`. Three formats: text, markdown (a pull-request comment) and json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compiler.build import plan_repository
from compiler.diagnostics import Diagnostic, format_text
from compiler.errors import UsageError
from compiler.gitops.compare import Report, Side, compare
from compiler.gitops.report_json import format_invalid_head_json, format_json_report
from compiler.gitops.report_markdown import format_invalid_head_markdown, format_markdown
from compiler.gitops.report_text import format_text_report
from compiler.gitops.worktree import Location, checkout, locate, resolve
from compiler.load import PROJECT_FILE, is_spec_root
from compiler.render import render

FORMATS = ("text", "markdown", "json")
SKIP = {"manifest.json"}  # compile's record of its inputs: not an artifact


@dataclass
class Invalid:
    """A revision that does not validate: its diagnostics and the texts they point into."""

    diagnostics: list[Diagnostic]
    texts: dict[str, list[str]]

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == "error")


def compile_side(root: Path) -> Side | Invalid:
    """The compile phases in memory: load, validate, plan, render; nothing is written."""
    compiled = plan_repository(root)
    if compiled.specs is None or compiled.plan is None:
        return Invalid(compiled.diagnostics, compiled.texts)
    files = {path: data for path, data in render(compiled.plan).items() if path not in SKIP}
    spec_files = {name: entry.doc.file for name, entry in compiled.specs.models.items()}
    return Side(compiled.plan, files, spec_files)


def _base_side(where: Location, base: str, commit: str) -> tuple[Side, str | None, Invalid | None]:
    """The base compiled from a throwaway checkout of commit: its side, why it counts as
    empty (or None), and its diagnostics when it does not validate."""
    place = where.rel.as_posix() if where.rel.parts else "the repository root"
    with checkout(where, commit) as tree:
        spec_root = tree / where.rel
        if not is_spec_root(spec_root):
            note = (
                f"{base} has no {PROJECT_FILE} at {place}: the base is empty and "
                "everything is reported as added"
            )
            return Side(), note, None
        side = compile_side(spec_root)
    if isinstance(side, Invalid):
        note = (
            f"the specs at {place} in {base} do not validate ({side.errors} error(s)): "
            "the base is empty and everything is reported as added"
        )
        return Side(), note, side
    return side, None, None


def _invalid_head(head: Invalid, base: str, commit: str, fmt: str) -> str:
    if fmt == "markdown":
        return format_invalid_head_markdown(base, commit, head.diagnostics)
    if fmt == "json":
        return format_invalid_head_json(base, commit, head.diagnostics)
    return format_text(head.diagnostics, head.texts)


def _render_report(report: Report, fmt: str) -> str:
    if fmt == "markdown":
        return format_markdown(report)
    if fmt == "json":
        return format_json_report(report)
    return format_text_report(report)


def diff(root: Path, base: str, fmt: str) -> tuple[str, int]:
    """Compare the specs at root (the working tree) with the same folder at revision base.

    Returns the report in fmt (text | markdown | json) and the exit code: 0, or 1 when the
    head does not validate (its diagnostics are returned, in fmt) or the version gate fails.
    Raises UsageError for a bad format, a root outside git, or a base that is not a commit;
    HostError when git cannot check the base out.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}'", "formats: " + ", ".join(FORMATS))
    if not is_spec_root(root):
        raise UsageError(f"{root} is not a spec repository: it has no {PROJECT_FILE}")
    where = locate(root)
    commit = resolve(where, base)
    head = compile_side(root)
    if isinstance(head, Invalid):
        return _invalid_head(head, base, commit, fmt), 1
    old, note, invalid_base = _base_side(where, base, commit)
    base_diagnostics = invalid_base.diagnostics if invalid_base else None
    report = compare(old, head, base, commit, note, base_diagnostics)
    return _render_report(report, fmt), report.exit_code
