"""`modelkiln init`: a starter spec repository that validates, with editor schemas."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from compiler.fsutil import write_atomic

SCHEMA_DIR = ".modelkiln/schemas"  # a dot folder: never read as specs
FILES = ("modelkiln.yaml", "data/transactions.yaml", "pools/l4-serve.yaml", "models/churn.yaml")


class ScaffoldError(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _project_name(directory: Path, name: str | None) -> str:
    raw = name or directory.resolve().name
    slug = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")[:63].strip("-")
    return slug or "ml-project"


def scaffold(directory: Path, name: str | None = None) -> list[Path]:
    """Write the starter files; refuses to overwrite anything."""
    from compiler.schemas import render

    if (directory / "modelkiln.yaml").exists():
        raise ScaffoldError(
            f"{directory} already has a modelkiln.yaml", "init only starts new repositories"
        )
    existing = [f for f in FILES if (directory / f).exists()]
    if existing:
        raise ScaffoldError(f"{directory} already has {', '.join(existing)}; nothing written")
    project = _project_name(directory, name)
    written: list[Path] = []
    src = resources.files(__package__).joinpath("files")
    for rel in FILES:
        text = src.joinpath(rel.replace("/", "__")).read_text("utf-8")
        depth = rel.count("/")
        schema_path = "../" * depth + SCHEMA_DIR
        text = text.replace("__PROJECT__", project).replace("__SCHEMAS__", schema_path)
        write_atomic(directory / rel, text.encode())
        written.append(directory / rel)
    for schema_name, data in render().items():
        write_atomic(directory / SCHEMA_DIR / schema_name, data)
        written.append(directory / SCHEMA_DIR / schema_name)
    return written
