"""Discovery and YAML with positions.

Files are composed into YAML nodes (by the C parser of ruamel.yaml when present) and turned
into plain dicts, lists and scalars, with a side table of positions for every key, value
and list item. Scalars follow the YAML 1.2 core schema: `yes`, `no` and dates stay strings.
Hostile input is refused with a diagnostic, never a hang: a size limit per file, a budget
of nodes that bounds alias expansion, and a depth limit.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.diagnostics import Diagnostic

PROJECT_FILE = "modelkiln.yaml"
# The 0.1 names (the project was called modelplane): recognised only to say what to rename.
LEGACY_PROJECT_FILE = "modelplane.yaml"
LEGACY_API_GROUP = "modelplane.io/"
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
_MAYBE_NOT_STR = set("0123456789+-.~nNtTfF")
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
    """One YAML document: plain data plus where each piece came from.

    Positions are only needed for diagnostics, which most runs of a CI gate have none of:
    a document read without them keeps its file's text and finds them, by reading that
    file once more, the first time a position is asked for.
    """

    file: str  # posix path relative to the root
    index: int  # 0-based position of the document in its file
    data: dict[str, Any]
    _values: dict[PathKey, Pos] | None = None
    _keys: dict[PathKey, Pos] | None = None
    text: str | None = field(default=None, repr=False)

    def _positions(self) -> tuple[dict[PathKey, Pos], dict[PathKey, Pos]]:
        if self._values is None or self._keys is None:
            self._values, self._keys = {}, {}
            if self.text is not None:
                builder = _Builder(self.file, positions=True)
                builder.run(_events(self.text))
                for doc in builder.documents:
                    if doc.index == self.index:
                        self._values, self._keys = doc.values, doc.keys
        return self._values, self._keys

    @property
    def values(self) -> dict[PathKey, Pos]:
        return self._positions()[0]

    @property
    def keys(self) -> dict[PathKey, Pos]:
        return self._positions()[1]

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
        values, keys = self._positions()
        while True:
            if key and path in keys:
                return keys[path]
            if path in values:
                return values[path]
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
    hashes: dict[str, str] = field(default_factory=dict)  # file -> sha256 of its bytes


class _NeedPositions(Exception):
    """A duplicate key, found without positions: read the file again with them."""


class _Abort(Exception):
    """The document cannot be built; the diagnostic says why."""

    def __init__(self, code: str, message: str, mark: Any, hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint
        self.line, self.column = mark.line + 1, mark.column + 1


def _scalar(value: str, style: Any, tag: str | None) -> Any:
    if style:  # quoted or block scalars are always strings
        return value
    if tag and tag != _STR:  # an explicit core tag, e.g. !!int
        return _typed(value, tag)
    if value and value[0] not in _MAYBE_NOT_STR:
        return value  # the common case: a word, which only a string can start with
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


def _tag(event: Any) -> str | None:
    tag = getattr(event, "tag", None)
    if tag is None:
        return None
    text = str(tag)
    return _STR.removesuffix("str") + text[2:] if text.startswith("!!") else text


_DUPLICATE = object()  # stands in for a repeated key: its value is built, then dropped


class _Frame:
    __slots__ = ("anchor", "container", "is_map", "key", "path", "start")

    def __init__(self, container: Any, path: PathKey, anchor: str | None, start: int) -> None:
        self.container = container
        self.is_map = isinstance(container, dict)
        self.path = path
        self.key: Any = None  # in a mapping: the key whose value comes next
        self.anchor = anchor
        self.start = start


class _Builder:
    """Builds plain data and position tables straight from the parser's events.

    Aliases share the anchored value (no copy) and are charged the anchored subtree's size
    against a budget, so an expansion bomb stops early; positions below an alias resolve to
    the alias itself.
    """

    def __init__(self, file: str, *, positions: bool = True) -> None:
        self.file = file
        self.positions = positions  # False: data only; a duplicate key asks for a re-read
        self.count = 0
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.documents: list[Document] = []
        self.diagnostics: list[Diagnostic] = []

    def run(self, events: Iterator[Any]) -> None:
        index = -1
        for event in events:
            if type(event).__name__ == "DocumentStartEvent":
                index += 1
                try:
                    self._document(index, events)
                except _Abort as err:
                    self.diagnostics.append(
                        Diagnostic(self.file, err.line, err.column, err.code, err.message, err.hint)
                    )
                    return

    def _document(self, index: int, events: Iterator[Any]) -> None:
        # The hot loop of the loader: kept flat, with locals, on purpose.
        values: dict[PathKey, Pos] = {}
        keys: dict[PathKey, Pos] = {}
        stack: list[_Frame] = []
        root: list[Any] = []
        anchors = self.anchors
        scalar = _scalar
        core_tags = _CORE_TAGS
        record = self.positions
        for event in events:
            name = type(event).__name__
            if name == "ScalarEvent":
                kind = 0
            elif name == "MappingStartEvent":
                kind = 1
            elif name == "SequenceStartEvent":
                kind = 2
            elif name == "AliasEvent":
                kind = 3
            elif name == "DocumentEndEvent":
                break
            else:  # the end of a mapping or a sequence
                frame = stack.pop()
                if frame.anchor:
                    anchors[frame.anchor] = (frame.container, self.count - frame.start)
                continue
            mark = event.start_mark
            pos = (mark.line + 1, mark.column + 1)
            parent = stack[-1] if stack else None
            if parent is not None and parent.is_map and parent.key is None:
                # this event is a key
                if kind != 0:
                    raise _Abort("MK203", "mapping keys must be plain strings", mark)
                key = str(event.value)
                if key in parent.container and not record:
                    raise _NeedPositions
                if key in parent.container:
                    first = keys[(*parent.path, key)]
                    self.diagnostics.append(
                        Diagnostic(
                            self.file,
                            pos[0],
                            pos[1],
                            "MK105",
                            f"duplicate key '{key}' (first defined at line {first[0]})",
                            "remove one of them; YAML keeps only one and modelkiln refuses "
                            "to guess which",
                        )
                    )
                    parent.key = _DUPLICATE
                else:
                    if record:
                        keys[(*parent.path, key)] = pos
                    parent.key = key
                continue
            # this event is a value
            if parent is None:
                path: PathKey = ()
                values[path] = pos  # the document's own position is always kept
            elif not record:
                path = ()
            elif parent.is_map:
                path = (*parent.path, parent.key if parent.key is not _DUPLICATE else "\0dup")
                values[path] = pos
            else:
                path = (*parent.path, len(parent.container))
                values[path] = pos
            anchor = event.anchor
            if kind == 3:
                if anchor not in anchors:
                    raise _Abort("MK103", f"invalid YAML: undefined alias '{anchor}'", mark)
                value, size = anchors[anchor]
                self.count += size
            else:
                self.count += 1
                tag = event.tag
                if tag is not None:
                    tag = _tag(event)
                    if tag not in core_tags:
                        self.diagnostics.append(
                            Diagnostic(
                                self.file,
                                pos[0],
                                pos[1],
                                "MK112",
                                f"unsupported YAML tag '{tag}'",
                                "modelkiln reads plain YAML: strings, numbers, booleans, "
                                "lists and mappings",
                            )
                        )
                if kind == 0:
                    value = scalar(event.value, event.style, tag)
                    if anchor:
                        anchors[anchor] = (value, 1)
                else:
                    if len(stack) >= MAX_DEPTH:
                        raise _Abort("MK113", f"nesting deeper than {MAX_DEPTH} levels", mark)
                    value = {} if kind == 1 else []
                    stack.append(_Frame(value, path, anchor, self.count - 1))
            if self.count > MAX_NODES_PER_FILE:
                raise _Abort(
                    "MK106",
                    f"the file expands to more than {MAX_NODES_PER_FILE} YAML nodes "
                    "(anchors and aliases count once per use)",
                    mark,
                    "use fewer or smaller aliases",
                )
            if parent is None:
                root.append(value)
            elif parent.is_map:
                if parent.key is not _DUPLICATE:
                    parent.container[parent.key] = value
                parent.key = None
            else:
                parent.container.append(value)
        data = root[0] if root else None
        if data is None:
            return  # an empty document, e.g. after a trailing '---'
        if not isinstance(data, dict):
            line, column = values[()]
            self.diagnostics.append(
                Diagnostic(
                    self.file,
                    line,
                    column,
                    "MK107",
                    "a document must be a mapping with apiVersion, kind, metadata and spec, "
                    f"not a {'list' if isinstance(data, list) else type(data).__name__}",
                )
            )
            return
        if record:
            self.documents.append(Document(self.file, index, data, values, keys))
        else:
            self.documents.append(Document(self.file, index, data))


def _events_c(text: str) -> Iterator[Any]:
    from _ruamel_yaml import CParser

    parser = CParser(text)
    while True:
        event = parser.get_event()
        if event is None:
            return
        yield event
        if type(event).__name__ == "StreamEndEvent":
            return


def _events_pure(text: str) -> Iterator[Any]:
    from ruamel.yaml import YAML

    return iter(YAML(typ="base", pure=True).parse(text))


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
            "MK104",
            "a tab character where YAML allows only spaces",
            "indent with spaces; YAML forbids tabs in indentation",
        )
    return Diagnostic(file, line, column, "MK103", f"invalid YAML: {message}")


def _events(text: str) -> Iterator[Any]:
    try:
        return _events_c(text)
    except ImportError:  # no C parser on this Python
        return _events_pure(text)


def _parse(file: str, text: str, positions: bool) -> _Builder:
    builder = _Builder(file, positions=positions)
    try:
        builder.run(_events_c(text))
    except ImportError:
        builder = _Builder(file, positions=positions)
        builder.run(_events_pure(text))
    return builder


def parse_text(
    file: str, text: str, *, positions: bool = True
) -> tuple[list[Document], list[Diagnostic]]:
    """Parse one file's text into documents. Never raises for bad input.

    positions=False reads data only (faster); the documents find their positions when
    first asked (Document.pos). A file with a duplicate key is read with positions."""
    try:
        try:
            builder = _parse(file, text, positions)
        except _NeedPositions:
            builder = _parse(file, text, True)
    except Exception:
        # The C parser words some errors poorly; the pure one says exactly what and where.
        builder = _Builder(file)
        try:
            builder.run(_events_pure(text))
        except Exception as err:  # ruamel's YAMLError family: all are the user's input
            return [], [_yaml_error(file, err)]
    if not positions:
        for doc in builder.documents:
            doc.text = text
    return builder.documents, builder.diagnostics


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
            "MK102",
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
                    "MK101",
                    f"the file is {size} bytes, over the limit of {MAX_FILE_BYTES} bytes",
                    "split it into several files",
                )
            )
            return []
        raw = path.read_bytes()
    except OSError as err:
        sources.diagnostics.append(
            Diagnostic(rel, 1, 1, "MK103", f"cannot read the file: {err.strerror}")
        )
        return []
    text, problem = decode(rel, raw)
    if problem is not None or text is None:
        sources.diagnostics.extend([problem] if problem else [])
        return []
    sources.texts[rel] = text.splitlines()
    sources.files.append(rel)
    sources.hashes[rel] = hashlib.sha256(raw).hexdigest()
    documents, diagnostics = parse_text(rel, text, positions=False)
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
    """A spec root has modelkiln.yaml, or only the 0.1 name (which load() reports as MK114)."""
    return (root / PROJECT_FILE).is_file() or (root / LEGACY_PROJECT_FILE).is_file()


def output_folder(root: Path) -> str:
    """The Project's output folder, read from modelkiln.yaml alone."""
    return _project_settings(read_file(root, PROJECT_FILE, Sources(root=root)))[0]


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
    project_docs = read_file(root, PROJECT_FILE, sources)
    output, exclude = _project_settings(project_docs)
    for rel in discover(root, output, exclude):
        if rel != PROJECT_FILE:
            read_file(root, rel, sources)
    return sources
