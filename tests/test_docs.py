"""Generated documentation stays in step with the code."""

from __future__ import annotations

from compiler.codes import CODES, render_markdown
from tests.conftest import REPO


def test_diagnostics_doc_is_current() -> None:
    committed = (REPO / "docs" / "diagnostics.md").read_text()
    assert committed == render_markdown(), "run `make docs` and commit docs/diagnostics.md"


def test_codes_are_well_formed() -> None:
    assert all(len(code) == 5 and code.startswith("MK") for code in CODES)
    names = [c.name for c in CODES.values()]
    assert len(names) == len(set(names))
