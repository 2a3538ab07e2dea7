"""Reading a spec root: modelkiln.yaml first (it names the output folder and what to
exclude), then every other spec file, into documents with positions and diagnostics.

The jobs live in their own modules: compiler.discover finds the files and reads each one
safely (regular files inside the root, a size limit), compiler.parse turns YAML text into
documents, compiler.sourcetext counts lines as YAML does. This module ties them together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from compiler.diagnostics import Diagnostic
from compiler.discover import Root, Unreadable, discover, read_limited
from compiler.document import Document
from compiler.parse import MAX_DEPTH, MAX_NODES_PER_FILE, parse_text
from compiler.sourcetext import PathKey, Pos, printable, split_lines

__all__ = [
    "DEFAULT_OUTPUT",
    "LEGACY_API_GROUP",
    "LEGACY_PROJECT_FILE",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES_PER_FILE",
    "PROJECT_FILE",
    "Document",
    "PathKey",
    "Pos",
    "Sources",
    "decode",
    "is_spec_root",
    "load",
    "output_folder",
    "parse_text",
    "read_file",
]

PROJECT_FILE = "modelkiln.yaml"
# The 0.1 names (the project was called modelplane): recognised only to say what to rename.
LEGACY_PROJECT_FILE = "modelplane.yaml"
LEGACY_API_GROUP = "modelplane.io/"
DEFAULT_OUTPUT = "deploy"
MAX_FILE_BYTES = 2 * 1024 * 1024


@dataclass
class Sources:
    """Everything read from a spec root. Files are named by their printable path relative
    to the root (compiler.sourcetext.printable), in diagnostics and in these tables."""

    root: Path
    documents: list[Document] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    texts: dict[str, list[str]] = field(default_factory=dict)  # file -> lines, for excerpts
    files: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)  # file -> sha256 of its bytes
    # Files with a \u or \U escape: only an escape can make a lone surrogate (MK219), so
    # only their documents are walked for one.
    escaped: set[str] = field(default_factory=set)


def decode(file: str, raw: bytes) -> tuple[str | None, Diagnostic | None]:
    """raw as UTF-8 text without a byte order mark, or where it is not UTF-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        before = raw[: err.start]  # valid UTF-8: the error is the first bad byte
        breaks = before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n")
        line_start = max(before.rfind(b"\n"), before.rfind(b"\r")) + 1
        column = len(before[line_start:].decode("utf-8").removeprefix("\ufeff")) + 1
        return None, Diagnostic(
            file,
            breaks + 1,
            column,
            "MK102",
            f"the file is not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start})",
            "save the file as UTF-8",
        )
    return text.removeprefix("\ufeff"), None


def read_file(root: Root, rel: str, sources: Sources) -> list[Document]:
    """Read, decode and parse root/rel into sources; its problems become diagnostics."""
    name = printable(rel)
    try:
        raw = read_limited(root, rel, MAX_FILE_BYTES)
    except Unreadable as refused:
        sources.diagnostics.append(refused.diagnostic(name))
        return []
    text, problem = decode(name, raw)
    if text is None:
        sources.diagnostics.extend([problem] if problem else [])
        return []
    sources.texts[name] = split_lines(text)
    sources.files.append(name)
    sources.hashes[name] = hashlib.sha256(raw).hexdigest()
    if "\\u" in text or "\\U" in text:
        sources.escaped.add(name)
    documents, diagnostics = parse_text(name, text, positions=False)
    sources.diagnostics.extend(diagnostics)
    sources.documents.extend(documents)
    return documents


def _project_settings(documents: list[Document]) -> tuple[str, list[str]]:
    for doc in documents:
        spec = doc.data.get("spec")
        if doc.kind == "Project" and isinstance(spec, dict):
            output = spec.get("output", DEFAULT_OUTPUT)
            exclude = spec.get("exclude", [])
            out = output if isinstance(output, str) and output else DEFAULT_OUTPUT
            pats = [p for p in exclude if isinstance(p, str)] if isinstance(exclude, list) else []
            return out.strip("/"), pats
    return DEFAULT_OUTPUT, []


def is_spec_root(root: Path) -> bool:
    """A spec root has modelkiln.yaml, or only the 0.1 name (which load() reports as MK114)."""
    return (root / PROJECT_FILE).is_file() or (root / LEGACY_PROJECT_FILE).is_file()


def output_folder(root: Path) -> str:
    """The Project's output folder, read from modelkiln.yaml alone."""
    return _project_settings(read_file(Root.of(root), PROJECT_FILE, Sources(root=root)))[0]


def load(root: Path) -> Sources:
    """Read modelkiln.yaml first (it names the output folder), then every other spec file."""
    sources = Sources(root=root)
    if not (root / PROJECT_FILE).is_file() and (root / LEGACY_PROJECT_FILE).is_file():
        sources.diagnostics.append(
            Diagnostic(
                LEGACY_PROJECT_FILE,
                1,
                1,
                "MK114",
                f"{LEGACY_PROJECT_FILE} is the 0.1 name of the Project file",
                f"modelplane was renamed modelkiln: `git mv {LEGACY_PROJECT_FILE} {PROJECT_FILE}`"
                f" and set apiVersion: modelkiln.dev/v1alpha1 in every spec",
            )
        )
        return sources
    spec_root = Root.of(root)
    project_docs = read_file(spec_root, PROJECT_FILE, sources)
    output, exclude = _project_settings(project_docs)
    for rel in discover(spec_root, output, exclude, sources.diagnostics):
        if rel != PROJECT_FILE:
            read_file(spec_root, rel, sources)
    return sources
