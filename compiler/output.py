"""The one place that writes rendered files: each atomically, only when its bytes change."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from compiler.fsutil import write_atomic


def safe_relative(path: str) -> PurePosixPath:
    """A rendered path must stay inside the output folder."""
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"refusing to write outside the output folder: {path}")
    return rel


def write_tree(out: Path, files: dict[str, bytes]) -> list[str]:
    """Write files under out; returns the paths whose content changed."""
    changed = []
    for rel, data in sorted(files.items()):
        target = out / safe_relative(rel)
        if target.is_file() and target.read_bytes() == data:
            continue
        write_atomic(target, data, durable=False)  # regenerable: no fsync per file
        changed.append(rel)
    return changed
