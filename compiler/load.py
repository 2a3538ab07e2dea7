"""Discovery and YAML with positions.

Files are composed into YAML nodes (by the C parser of ruamel.yaml when present) and turned
into plain dicts, lists and scalars, with a side table of positions for every key, value
and list item. Scalars follow the YAML 1.2 core schema: `yes`, `no` and dates stay strings.
Hostile input is refused with a diagnostic, never a hang: a size limit per file, a budget
of nodes that bounds alias expansion, and a depth limit.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.diagnostics import Diagnostic

PROJECT_FILE = "modelplane.yaml"
DEFAULT_OUTPUT = "deploy"
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES_PER_FILE = 200_000
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]
Pos = tuple[int, int]  # 1-based line, column

_STR = "tag:yaml.org,2002:str"
_CORE_TAGS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "!",
}
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT = re.compile(r"[-+]?[0-9]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_SPECIAL_FLOATS = {
    ".inf": float("inf"),
    ".Inf": float("inf"),
    ".INF": float("inf"),
    "+.inf": float("inf"),
    "-.inf": float("-inf"),
    "-.Inf": float("-inf"),
    "-.INF": float("-inf"),
    ".nan": float("nan"),
    ".NaN": float("nan"),
    ".NAN": float("nan"),
}


@dataclass
class Document:
    """One YAML document: plain data plus where each piece came from."""

    file: str  # posix path relative to the root
    index: int  # 0-based position of the document in its file
    data: dict[str, Any]
    values: dict[PathKey, Pos] = field(default_factory=dict)
    keys: dict[PathKey, Pos] = field(default_factory=dict)

    @property
    def kind(self) -> str | None:
        kind = self.data.get("kind")
        return kind if isinstance(kind, str) else None

    @property
    def name(self) -> str | None:
        meta = self.data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else None

    def pos(self, path: PathKey, *, key: bool = False) -> Pos:
        """Position of the value at path (or of its key), else of its nearest ancestor."""
        path = tuple(path)
        while True:
            if key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if not path:
                return (1, 1)
            path = path[:-1]
            key = True  # an absent child is reported at its parent's key

    def at(
        self, path: PathKey, code: str, message: str, hint: str | None = None, *, key: bool = False
    ) -> Diagnostic:
        line, column = self.pos(path, key=key)
        return Diagnostic(self.file, line, column, code, message, hint)


@dataclass
class Sources:
    """Everything read from a spec root."""

    root: Path
    documents: list[Document] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    texts: dict[str, list[str]] = field(default_factory=dict)  # file -> lines, for excerpts
    files: list[str] = field(default_factory=list)


class _TooBig(Exception):
    def __init__(self, code: str, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.code, self.message, self.line, self.column = code, message, line, column


class _Builder:
    """Turns a composed node graph into plain data and position tables."""

    def __init__(self) -> None:
        self.budget = MAX_NODES_PER_FILE
        self.values: dict[PathKey, Pos] = {}
        self.keys: dict[PathKey, Pos] = {}
        self.problems: list[tuple[str, str, int, int, str | None]] = []

    def build(self, node: Any, path: PathKey, depth: int) -> Any:
        self.budget -= 1
        mark = node.start_mark
        if self.budget < 0:
            raise _TooBig(
                "MP106",
                f"the file expands to more than {MAX_NODES_PER_FILE} YAML nodes "
                "(anchors and aliases count once per use)",
                mark.line + 1,
                mark.column + 1,
            )
        if depth > MAX_DEPTH:
            raise _TooBig(
                "MP113",
                f"nesting deeper than {MAX_DEPTH} levels",
                mark.line + 1,
                mark.column + 1,
            )
        self.values[path] = (mark.line + 1, mark.column + 1)
        tag = node.tag
        if tag not in _CORE_TAGS:
            self.problems.append(
                ("MP112", f"unsupported YAML tag '{tag}'", mark.line + 1, mark.column + 1, None)
            )
        node_id = node.id
        if node_id == "mapping":
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                kmark = key_node.start_mark
                if key_node.id != "scalar":
                    self.problems.append(
                        (
                            "MP203",
                            "mapping keys must be plain strings",
                            kmark.line + 1,
                            kmark.column + 1,
                            None,
                        )
                    )
                    continue
                key = str(key_node.value)
                if key in result:
                    first = self.keys[(*path, key)]
                    self.problems.append(
                        (
                            "MP105",
                            f"duplicate key '{key}' (first defined at line {first[0]})",
                            kmark.line + 1,
                            kmark.column + 1,
                            "remove one of them; YAML keeps only one and modelplane refuses "
                            "to guess which",
                        )
                    )
                    continue
                self.keys[(*path, key)] = (kmark.line + 1, kmark.column + 1)
                result[key] = self.build(value_node, (*path, key), depth + 1)
            return result
        if node_id == "sequence":
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return _scalar(node)


def _scalar(node: Any) -> Any:
    value: str = node.value
    tag = node.tag
    if node.style:  # quoted or block scalars are always strings
        return value
    if tag != _STR and tag in _CORE_TAGS:  # explicit core tag, e.g. !!int
        return _typed(value, tag)
    if value in _NULL:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if _INT.match(value):
        return int(value)
    if _OCT.match(value):
        return int(value[2:], 8)
    if _HEX.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    if value in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[value]
    return value


def _typed(value: str, tag: str) -> Any:
    try:
        if tag.endswith(":int"):
            return int(value, 0)
        if tag.endswith(":float"):
            return float(value)
        if tag.endswith(":bool"):
            return value in _TRUE
        if tag.endswith(":null"):
            return None
    except ValueError:
        return value
    return value


def _compose_c(text: str) -> list[Any]:
    from _ruamel_yaml import CParser
    from ruamel.yaml.resolver import BaseResolver

    class _Composer(CParser, BaseResolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            BaseResolver.__init__(self, loadumper=self)

    parser = _Composer(text)
    nodes = []
    while parser.check_node():
        nodes.append(parser.get_node())
    return nodes


def _compose_pure(text: str) -> list[Any]:
    from ruamel.yaml import YAML

    return list(YAML(typ="base", pure=True).compose_all(text))


def _compose(text: str) -> list[Any]:
    """Compose all documents; syntax errors always come from the pure parser's messages."""
    try:
        return _compose_c(text)
    except ImportError:
        return _compose_pure(text)
    except Exception:
        # The C parser reports some errors poorly; the pure parser says exactly what and where.
        return _compose_pure(text)


def _yaml_error(file: str, err: Exception) -> Diagnostic:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    message = f"{context}: {problem}" if context else str(problem)
    if "\\t" in message or "\t" in message:
        return Diagnostic(
            file,
            line,
            column,
            "MP104",
            "a tab character where YAML allows only spaces",
            "indent with spaces; YAML forbids tabs in indentation",
        )
    return Diagnostic(file, line, column, "MP103", f"invalid YAML: {message}")


def parse_text(file: str, text: str) -> tuple[list[Document], list[Diagnostic]]:
    """Parse one file's text into documents. Never raises for bad input."""
    try:
        nodes = _compose(text)
    except RecursionError:
        return [], [Diagnostic(file, 1, 1, "MP113", f"nesting deeper than {MAX_DEPTH} levels")]
    except Exception as err:  # ruamel's YAMLError family and friends: all are the user's input
        return [], [_yaml_error(file, err)]
    documents: list[Document] = []
    diagnostics: list[Diagnostic] = []
    builder = _Builder()
    for index, node in enumerate(nodes):
        builder.values, builder.keys = {}, {}
        try:
            data = builder.build(node, (), 0)
        except _TooBig as err:
            diagnostics.append(Diagnostic(file, err.line, err.column, err.code, err.message))
            break
        except RecursionError:
            diagnostics.append(
                Diagnostic(file, 1, 1, "MP113", f"nesting deeper than {MAX_DEPTH} levels")
            )
            break
        if data is None:
            continue  # an empty document, e.g. after a trailing '---'
        if not isinstance(data, dict):
            line, column = builder.values[()]
            diagnostics.append(
                Diagnostic(
                    file,
                    line,
                    column,
                    "MP107",
                    f"a document must be a mapping with apiVersion, kind, metadata and spec, "
                    f"not a {type(data).__name__}",
                )
            )
            continue
        documents.append(Document(file, index, data, builder.values, builder.keys))
    for code, message, line, column, hint in builder.problems:
        diagnostics.append(Diagnostic(file, line, column, code, message, hint))
    return documents, diagnostics


def decode(file: str, raw: bytes) -> tuple[str | None, Diagnostic | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        before = raw[: err.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        return None, Diagnostic(
            file,
            line,
            column,
            "MP102",
            f"the file is not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start})",
            "save the file as UTF-8",
        )
    return text.removeprefix("\ufeff"), None


def read_file(root: Path, rel: str, sources: Sources) -> list[Document]:
    path = root / rel
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            sources.diagnostics.append(
                Diagnostic(
                    rel,
                    1,
                    1,
                    "MP101",
                    f"the file is {size} bytes, over the limit of {MAX_FILE_BYTES} bytes",
                    "split it into several files",
                )
            )
            return []
        raw = path.read_bytes()
    except OSError as err:
        sources.diagnostics.append(
            Diagnostic(rel, 1, 1, "MP103", f"cannot read the file: {err.strerror}")
        )
        return []
    text, problem = decode(rel, raw)
    if problem is not None or text is None:
        sources.diagnostics.extend([problem] if problem else [])
        return []
    sources.texts[rel] = text.splitlines()
    sources.files.append(rel)
    documents, diagnostics = parse_text(rel, text)
    sources.diagnostics.extend(diagnostics)
    sources.documents.extend(documents)
    return documents


def discover(root: Path, output: str, exclude: list[str]) -> Iterator[str]:
    """Every *.yaml / *.yml file below root, sorted; no dot folders, no output folder."""
    output_parts = Path(output).parts
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        keep = []
        for d in sorted(dirnames):
            rel = rel_dir / d
            if d.startswith(".") or rel.parts == output_parts:
                continue
            if any(fnmatch.fnmatch(rel.as_posix(), pat) for pat in exclude):
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if not name.endswith((".yaml", ".yml")) or name.startswith("."):
                continue
            rel_file = (rel_dir / name).as_posix()
            if any(fnmatch.fnmatch(rel_file, pat) for pat in exclude):
                continue
            yield rel_file


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
    return (root / PROJECT_FILE).is_file()


def load(root: Path) -> Sources:
    """Read modelplane.yaml first (it names the output folder), then every other spec file."""
    sources = Sources(root=root)
    project_docs = read_file(root, PROJECT_FILE, sources)
    output, exclude = _project_settings(project_docs)
    for rel in discover(root, output, exclude):
        if rel != PROJECT_FILE:
            read_file(root, rel, sources)
    return sources
