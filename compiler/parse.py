"""YAML text into documents of plain data with positions.

Files are read as parser events (from ruamel.yaml's C parser when present, else its pure
Python one, which reads the same YAML) and turned straight into dicts, lists and scalars,
with a side table of positions for every key, value and list item. Hostile input is refused
with a diagnostic, never a hang: a budget of nodes that bounds alias expansion, and a depth
limit. Only the parser's own errors are the user's input; anything else is a bug and
propagates (the CLI reports it as an internal error).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from ruamel.yaml.error import YAMLError
from ruamel.yaml.reader import ReaderError

from compiler.diagnostics import Diagnostic, quote, shorten
from compiler.document import Document, Tables
from compiler.scalars import CORE_TAGS, IntegerTooLong, full_tag, scalar
from compiler.sourcetext import LineMap, PathKey, Pos, line_map

MAX_NODES_PER_FILE = 200_000
MAX_DEPTH = 64
# A file the C parser rejects is read again by the pure one for a better message, but
# only up to this size: it is some 15 times slower (seconds for a file near the size limit).
PURE_REREAD_CHARS = 256 * 1024

Events = Callable[[str], Iterator[Any]]


class _NeedPositions(Exception):
    """A duplicate key, found without positions: read the file again with them."""


class _Abort(Exception):
    """The document cannot be built; the diagnostic says why."""

    def __init__(self, code: str, message: str, pos: Pos, hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint
        self.line, self.column = pos


_DUPLICATE = object()  # stands in for a repeated key: its value is built, then dropped
# The events a document is built from (matched by class name: the C and the pure parser
# have their own classes); any other event inside a document ends a mapping or a sequence.
_EVENT_KINDS = {
    "ScalarEvent": 0,
    "MappingStartEvent": 1,
    "SequenceStartEvent": 2,
    "AliasEvent": 3,
    "DocumentEndEvent": 4,
}
_DOCUMENT_END, _COLLECTION_END = 4, 5


def _node_limit(pos: Pos) -> _Abort:
    return _Abort(
        "MK106",
        f"the file expands to more than {MAX_NODES_PER_FILE} YAML nodes "
        "(anchors and aliases count once per use)",
        pos,
        "use fewer or smaller aliases",
    )


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

    def __init__(self, file: str, *, positions: bool = True, lines: LineMap | None = None) -> None:
        self.file = file
        self.positions = positions  # False: data only; a duplicate key asks for a re-read
        self.lines = lines  # set when the parser's own line numbers would be wrong
        self.count = 0
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.documents: list[Document] = []
        self.diagnostics: list[Diagnostic] = []
        self.tables: dict[int, Tables] = {}  # document index -> positions, when recorded

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

    def _repeated_key(self, key: str, pos: Pos, first: Pos | None) -> Any:
        if first is None:  # read without positions: read again with them to say where
            raise _NeedPositions
        self.diagnostics.append(
            Diagnostic(
                self.file,
                pos[0],
                pos[1],
                "MK105",
                f"duplicate key {quote(key)} (first defined at line {first[0]})",
                "remove one of them; YAML keeps only one and modelkiln refuses to guess which",
            )
        )
        return _DUPLICATE

    def _tag(self, event: Any, pos: Pos) -> str | None:
        tag = full_tag(event)
        if tag not in CORE_TAGS:
            self.diagnostics.append(
                Diagnostic(
                    self.file,
                    pos[0],
                    pos[1],
                    "MK112",
                    f"unsupported YAML tag {quote(str(tag))}",
                    "modelkiln reads plain YAML: strings, numbers, booleans, lists and mappings",
                )
            )
        return tag

    def _alias(self, anchor: Any, pos: Pos) -> Any:
        if anchor not in self.anchors:
            message = f"invalid YAML: undefined alias {quote(str(anchor))}"
            raise _Abort("MK103", message, pos)
        value, size = self.anchors[anchor]
        self.count += size  # an alias costs what it stands for: bombs stop early
        return value

    def _open(self, kind: int, path: PathKey, anchor: Any, stack: list[_Frame], pos: Pos) -> Any:
        if len(stack) >= MAX_DEPTH:
            raise _Abort("MK113", f"nesting deeper than {MAX_DEPTH} levels", pos)
        container: Any = {} if kind == 1 else []
        stack.append(_Frame(container, path, anchor, self.count - 1))
        return container

    def _document(self, index: int, events: Iterator[Any]) -> None:
        # The hot loop of the loader: kept flat, with locals, on purpose; what is rarer
        # (aliases, tags, collections, repeated keys) is in methods.
        values: dict[PathKey, Pos] = {}
        keys: dict[PathKey, Pos] = {}
        stack: list[_Frame] = []
        root: list[Any] = []
        to_value = scalar
        record = self.positions
        lines = self.lines
        kinds = _EVENT_KINDS
        for event in events:
            kind = kinds.get(type(event).__name__, _COLLECTION_END)
            if kind == _DOCUMENT_END:
                break
            if kind == _COLLECTION_END:
                frame = stack.pop()
                if frame.anchor:
                    self.anchors[frame.anchor] = (frame.container, self.count - frame.start)
                continue
            mark = event.start_mark
            pos = (mark.line + 1, mark.column + 1) if lines is None else lines.pos(mark.index)
            parent = stack[-1] if stack else None
            if parent is not None and parent.is_map and parent.key is None:  # a key
                if kind != 0:
                    raise _Abort("MK203", "mapping keys must be plain strings", pos)
                key = str(event.value)
                if key in parent.container:
                    first = keys.get((*parent.path, key), pos) if record else None
                    parent.key = self._repeated_key(key, pos, first)
                else:
                    if record:
                        keys[(*parent.path, key)] = pos
                    parent.key = key
                continue
            # a value
            if parent is None:
                path: PathKey = ()
                values[path] = pos  # the document's own position is always kept
            elif not record:
                path = ()
            elif parent.is_map:
                path = (*parent.path, parent.key if parent.key is not _DUPLICATE else "\0dup")
                if kind == 0 and not event.value and event.end_mark.index == mark.index:
                    # an absent value (`key:`): the parsers place it differently (after the
                    # colon, or at the next token); both report it at its key
                    pos = keys.get(path, pos)
                values[path] = pos
            else:
                path = (*parent.path, len(parent.container))
                values[path] = pos
            anchor = event.anchor
            if kind == 3:
                value = self._alias(anchor, pos)
            else:
                self.count += 1
                tag = event.tag if event.tag is None else self._tag(event, pos)
                if kind == 0:
                    try:
                        value = to_value(event.value, event.style, tag)
                    except IntegerTooLong as err:
                        raise _Abort(
                            "MK210", str(err), pos, "quote it to read it as text"
                        ) from None
                    if anchor:
                        self.anchors[anchor] = (value, 1)
                else:
                    value = self._open(kind, path, anchor, stack, pos)
            if self.count > MAX_NODES_PER_FILE:
                raise _node_limit(pos)
            if parent is None:
                root.append(value)
            elif parent.is_map:
                if parent.key is not _DUPLICATE:
                    parent.container[parent.key] = value
                parent.key = None
            else:
                parent.container.append(value)
        self._finish(index, root[0] if root else None, values, keys)

    def _finish(
        self, index: int, data: Any, values: dict[PathKey, Pos], keys: dict[PathKey, Pos]
    ) -> None:
        if data is None:
            return  # an empty document, e.g. after a trailing '---'
        if not isinstance(data, dict):
            line, column = values[()]
            kind = "list" if isinstance(data, list) else type(data).__name__
            self.diagnostics.append(
                Diagnostic(
                    self.file,
                    line,
                    column,
                    "MK107",
                    "a document must be a mapping with apiVersion, kind, metadata and spec, "
                    f"not a {kind}",
                )
            )
            return
        if self.positions:
            self.tables[index] = (values, keys)
            self.documents.append(Document(self.file, index, data, values, keys))
        else:
            self.documents.append(Document(self.file, index, data))


@functools.cache
def _c_parser_class() -> Any:
    try:
        from _ruamel_yaml import CParser
    except ImportError:  # no C parser on this Python: the pure one reads the same YAML
        return None
    return CParser


def _events_c(text: str) -> Iterator[Any]:
    parser = _c_parser_class()(text)
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


def _events(text: str) -> Iterator[Any]:
    return _events_c(text) if _c_parser_class() is not None else _events_pure(text)


def uses_c_parser() -> bool:
    """Whether ruamel.yaml's C parser is available (else the pure Python one is used)."""
    return _c_parser_class() is not None


class FilePositions:
    """The position tables of one file's documents, found by reading it once more, with
    positions, the first time any of its documents needs one: at most once per file."""

    def __init__(self, file: str, text: str) -> None:
        self.file, self.text = file, text
        self._tables: dict[int, Tables] | None = None

    def tables(self, index: int) -> Tables:
        if self._tables is None:
            builder = _Builder(self.file, positions=True, lines=line_map(self.text))
            builder.run(_events(self.text))  # this text parsed without error before
            self._tables = builder.tables
            self.text = ""  # read once; no need to keep it
        return self._tables.get(index, ({}, {}))


def _yaml_error(file: str, text: str, err: YAMLError) -> Diagnostic:
    if isinstance(err, ReaderError):  # a character YAML does not allow; no mark, a position
        line, column = LineMap(text).pos(int(err.position))
        message = f"invalid YAML: the character U+{int(err.character):04X} is not allowed"
        return Diagnostic(file, line, column, "MK103", message, "remove it or escape it")
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if mark is None:
        line, column = 1, 1
    else:
        lines = line_map(text)
        line, column = (mark.line + 1, mark.column + 1) if lines is None else lines.pos(mark.index)
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
    # the parser's words may quote the input: at most QUOTE_LIMIT characters of it, escaped
    return Diagnostic(file, line, column, "MK103", f"invalid YAML: {shorten(message, 200)}")


def _build(file: str, text: str, positions: bool, events: Events) -> _Builder:
    builder = _Builder(file, positions=positions, lines=line_map(text))
    try:
        builder.run(events(text))
    except _NeedPositions:
        builder = _Builder(file, positions=True, lines=builder.lines)
        builder.run(events(text))
    return builder


def parse_text(
    file: str, text: str, *, positions: bool = True
) -> tuple[list[Document], list[Diagnostic]]:
    """Parse one file's text into documents; bad YAML is a diagnostic, never an exception.

    positions=False reads data only (faster); the documents find their positions when
    first asked (Document.pos). A file with a duplicate key is read with positions."""
    try:
        builder = _build(file, text, positions, _events)
    except YAMLError as first:
        if not uses_c_parser() or len(text) > PURE_REREAD_CHARS:
            return [], [_yaml_error(file, text, first)]
        # The C parser words some errors poorly; the pure one says exactly what and where.
        try:
            builder = _build(file, text, True, _events_pure)
        except YAMLError as err:
            return [], [_yaml_error(file, text, err)]
    if not builder.positions:
        shared = FilePositions(file, text)
        for doc in builder.documents:
            doc.source = shared
    return builder.documents, builder.diagnostics
