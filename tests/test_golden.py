"""Golden files: the compiled examples, committed for review.

After an intended change, regenerate with `make golden` (UPDATE_GOLDEN=1) and review the
diff of tests/golden/ like any other change.
"""

from __future__ import annotations

import os
import shutil

import pytest

from compiler.output import write_files
from tests.conftest import REPO
from tests.kfp_helpers import files_of, read_tree

GOLDEN = REPO / "tests" / "golden"


@pytest.mark.parametrize("example", ["quickstart", "multi-cloud", "llm"])
def test_golden(example: str) -> None:
    rendered = files_of(example)
    folder = GOLDEN / example
    if os.environ.get("UPDATE_GOLDEN") == "1":  # exactly 1: no accidental rewrite
        shutil.rmtree(folder, ignore_errors=True)
        write_files(folder, rendered)
    committed = read_tree(folder)
    changed = sorted(
        p for p in rendered.keys() | committed.keys() if rendered.get(p) != committed.get(p)
    )
    assert not changed, (
        f"compiled output differs from tests/golden/{example}: {changed}; "
        "run `make golden` and review"
    )
