from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
SHARED = REPO.parent / "shared"


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A private copy of the quickstart example that a test may change."""
    dest = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "quickstart", dest)
    return dest
