"""The vendored upstream files (tests/upstream/) are still the steering repository's copies;
those fetched from upstream directly still have the sha256 their provenance row records."""

from __future__ import annotations

import hashlib
import re
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
    recorded = _recorded_sha256(path)
    if recorded is not None:  # fetched from upstream itself, not from shared/conformance
        assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded, path
        return
    if not original.is_file():
        pytest.skip(f"{original} is absent (a standalone clone): nothing to compare with")
    assert path.read_bytes() == original.read_bytes(), f"refresh {path} from {original}"


def _recorded_sha256(path: Path) -> str | None:
    """The sha256 in the provenance row of a file that is not in shared/conformance."""
    provenance = (UPSTREAM / "PROVENANCE.md").read_text()
    name = f"`{path.relative_to(UPSTREAM)}`"
    row = next((line for line in provenance.splitlines() if line.startswith(f"| {name}")), "")
    if "not in shared/conformance" not in row.replace("`", ""):
        return None
    digests = re.findall(r"\b[0-9a-f]{64}\b", row)
    assert len(digests) == 1, f"{name}: its provenance row must record one sha256"
    return str(digests[0])
