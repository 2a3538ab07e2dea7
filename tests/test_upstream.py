"""The vendored upstream files (tests/upstream/) are still the steering repository's copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED, UPSTREAM

VENDORED = sorted(p for p in UPSTREAM.rglob("*") if p.suffix in (".json", ".yaml"))


def test_every_vendored_schema_is_listed_in_the_provenance() -> None:
    provenance = (UPSTREAM / "PROVENANCE.md").read_text()
    for path in VENDORED:
        if not path.name.endswith(".provenance.json"):
            assert f"`{path.relative_to(UPSTREAM)}`" in provenance, path


@pytest.mark.parametrize("path", VENDORED, ids=lambda p: str(p.relative_to(UPSTREAM)))
def test_vendored_copy_matches_shared(path: Path) -> None:
    original = SHARED / "conformance" / path.relative_to(UPSTREAM)
    if not original.is_file():
        pytest.skip(f"{original} is absent (a standalone clone): nothing to compare with")
    assert path.read_bytes() == original.read_bytes(), f"refresh {path} from {original}"
