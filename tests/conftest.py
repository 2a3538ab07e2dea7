from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
SHARED = REPO.parent / "shared"


def copy_example(tmp_path: Path, example: str) -> Path:
    """A private copy of an example repository that a test may change."""
    dest = tmp_path / example
    shutil.copytree(EXAMPLES / example, dest)
    return dest


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    return copy_example(tmp_path, "quickstart")
