"""Random mutations of spec repositories, for the fuzz test (tests/test_fuzz.py).

A case is an example repository and a list of mutations. Every mutation is a small frozen
dataclass whose repr is enough to replay it; applying one returns a line that says what it
did, to which file and path. Files, documents and nodes are chosen by an index taken modulo
the number of choices when the mutation is applied, so any index is valid and hypothesis
shrinks towards the first file, document and node.

Data mutations edit parsed YAML, which a small emitter of our own writes back: a library
would refuse or normalise what we want on disk (lone surrogates as `"\\ud800"` escapes,
raw U+2028 inside quotes, unknown tags, merge keys, duplicate keys). Raw mutations then
edit the bytes, for syntax-level cases.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from math import inf, nan  # also for replays: a Case's repr writes them as `nan`, `inf`
from typing import Any, ClassVar, Protocol

from hypothesis import strategies as st
from ruamel.yaml import YAML

NodePath = tuple[Any, ...]
Want = Callable[[NodePath, Any], bool]  # which nodes a mutation may pick
# The marker the injection oracle looks for in the compiled output (see test_fuzz.py).
CANARY = "mkfuzz"


# --- values the emitter writes as we say ---------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A token written verbatim: `.nan`, `*a`, `!!binary aGk=`, `[[[x]]]`, `9999…`."""

    token: str


@dataclass(frozen=True)
class Str:
    """A string and its quoting: `escaped` (double quotes, ASCII only: surrogates become
    `\\ud800`), `raw` (double quotes, other characters written as they are, U+2028 and NUL
    included) or `single` (single quotes; `escaped` when the text cannot be single-quoted)."""

    text: str
    style: str = "escaped"


@dataclass(frozen=True)
class Long:
    """`fill` repeated `count` times: a long string with a short repr."""

    fill: str
    count: int
    style: str = "escaped"


@dataclass(frozen=True)
class Tagged:
    tag: str
    value: Any


@dataclass(frozen=True)
class Anchored:
    name: str
    value: Any


@dataclass(frozen=True, eq=False)
class DupKey:
    """A mapping key written as `name` next to an existing key of that name (identity-hashed,
    so that a dict can hold both)."""

    name: str


@dataclass(frozen=True)
class RawDoc:
    """A document written verbatim (empty, a scalar, a comment...)."""

    text: str


# --- the emitter ---------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*\Z")
_NOT_PLAIN = {"null", "true", "false", "yes", "no", "on", "off", "y", "n", "nan", "inf"}


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    """A YAML double-quoted escape: `\\U0001f680` for an astral character (YAML, unlike JSON,
    does not pair `\\ud83d\\ude80` into one character), `\\ud800` for a lone surrogate."""
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return char
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def quote(text: str, style: str = "escaped") -> str:
    if style == "single" and not re.search(r"[\n\r\ud800-\udfff]", text):
        return "'" + text.replace("'", "''") + "'"
    if style == "raw":  # only what must be escaped: quotes, backslashes, line feeds, surrogates
        keep = {'"', "\\", "\n", "\r"}
        return (
            '"'
            + "".join(_escape(c) if c in keep or "\ud800" <= c <= "\udfff" else c for c in text)
            + '"'
        )
    return '"' + "".join(_escape(c) for c in text) + '"'


def _float_token(value: float) -> str:
    if value != value:
        return ".nan"
    if value in (inf, -inf):
        return ".inf" if value > 0 else "-.inf"
    return repr(value)


def scalar_token(value: Any) -> str:
    """One scalar (or an empty collection) as a single-line token."""
    if isinstance(value, Raw):
        return value.token
    if isinstance(value, Str):
        return quote(value.text, value.style)
    if isinstance(value, Long):
        return quote(value.fill * value.count, value.style)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_token(value)
    if isinstance(value, str):
        return value if _PLAIN.match(value) and value.lower() not in _NOT_PLAIN else quote(value)
    if value == [] or value == {}:
        return "[]" if isinstance(value, list) else "{}"
    raise TypeError(f"cannot emit {type(value).__name__}")


def _key_token(key: Any) -> str:
    if isinstance(key, DupKey):
        return scalar_token(key.name)
    return scalar_token(key)


def unwrap(value: Any) -> tuple[str, Any]:
    """Node properties (`&a !tag`) and the value inside them."""
    props: list[str] = []
    while isinstance(value, Anchored | Tagged):
        props.append(f"&{value.name}" if isinstance(value, Anchored) else value.tag)
        value = value.value
    return " ".join(props), value


def _is_block(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


def _entry(prefix: str, value: Any, indent: int) -> list[str]:
    props, inner = unwrap(value)
    if _is_block(inner):
        return [prefix + (" " + props if props else ""), *_block(inner, indent + 2)]
    return [f"{prefix} {props + ' ' if props else ''}{scalar_token(inner)}"]


def _block(value: dict[Any, Any] | list[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            lines += _entry(f"{pad}{_key_token(key)}:", item, indent)
    else:
        for item in value:
            lines += _entry(f"{pad}-", item, indent)
    return lines


def emit_document(data: Any) -> str:
    if isinstance(data, RawDoc):
        return data.text
    props, inner = unwrap(data)
    if _is_block(inner):
        return "\n".join(([props] if props else []) + _block(inner, 0)) + "\n"
    return (props + " " if props else "") + scalar_token(inner) + "\n"


def emit_file(documents: list[Any]) -> bytes:
    """Documents separated by `---`; strict UTF-8, so the emitter never writes a surrogate."""
    return "---\n".join(emit_document(doc) for doc in documents).encode("utf-8")


@cache
def _parse_original(data: bytes) -> tuple[Any, ...] | None:
    try:
        return tuple(YAML(typ="safe", pure=True).load_all(data.decode("utf-8")))
    except Exception:  # a file made unreadable by an earlier mutation: data edits skip it
        return None


def load_documents(data: bytes) -> list[Any] | None:
    parsed = _parse_original(data)
    return None if parsed is None else copy.deepcopy(list(parsed))


# --- nodes ---------------------------------------------------------------------------------


def walk(value: Any, path: NodePath = ()) -> Iterator[tuple[NodePath, Any]]:
    """Every node in document order (the order the emitter writes them)."""
    yield path, value
    inner = unwrap(value)[1]
    if isinstance(inner, dict):
        for key, item in inner.items():
            yield from walk(item, (*path, key))
    elif isinstance(inner, list):
        for i, item in enumerate(inner):
            yield from walk(item, (*path, i))


def container_of(root: Any, path: NodePath) -> Any:
    """The dict or list holding the node at path (path non-empty)."""
    node = root
    for step in path[:-1]:
        node = unwrap(node)[1][step]
    return unwrap(node)[1]


def show_path(path: NodePath) -> str:
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            name = step.name if isinstance(step, DupKey) else step
            text += ("." if text else "") + short(name, 30).strip("'")
    return text or "<document>"


def short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


# --- the repository being mutated ---------------------------------------------------------


class Workspace:
    """The files of one repository while a case's mutations are applied: bytes, or parsed
    documents for the files that data mutations have touched (emitted again by flush)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.trees: dict[str, list[Any]] = {}

    def names(self) -> list[str]:
        return sorted(set(self.files) | set(self.trees))

    def pick(self, index: int) -> str | None:
        names = self.names()
        return names[index % len(names)] if names else None

    def documents(self, name: str) -> list[Any] | None:
        if name not in self.trees:
            parsed = load_documents(self.files[name])
            if parsed is None:
                return None
            self.trees[name] = parsed
        return self.trees[name]

    def content(self, name: str) -> bytes:
        return emit_file(self.trees[name]) if name in self.trees else self.files[name]

    def remove(self, name: str) -> None:
        self.files.pop(name, None)
        self.trees.pop(name, None)

    def flush(self) -> None:
        for name in list(self.trees):
            self.files[name] = emit_file(self.trees.pop(name))


class Mutation(Protocol):
    raw: ClassVar[bool]

    def apply(self, ws: Workspace) -> str: ...


def apply_all(
    files: dict[str, bytes], mutations: tuple[Mutation, ...]
) -> tuple[dict[str, bytes], list[str]]:
    """The mutated files and one line per mutation. Data mutations first (in order), then the
    files are emitted, then raw mutations (in order) edit the bytes."""
    ws = Workspace(files)
    log = [m.apply(ws) for m in mutations if not m.raw]
    ws.flush()
    log += [m.apply(ws) for m in mutations if m.raw]
    return ws.files, log


# --- data mutations ------------------------------------------------------------------------


@dataclass
class Target:
    """One node of one document of one file."""

    name: str
    documents: list[Any]
    index: int
    path: NodePath

    @property
    def value(self) -> Any:
        if not self.path:
            return self.documents[self.index]
        return container_of(self.documents[self.index], self.path)[self.path[-1]]

    def where(self) -> str:
        return f"{self.name}#{self.index} {show_path(self.path)}"

    def set(self, value: Any) -> None:
        if not self.path:
            self.documents[self.index] = value
        else:
            container_of(self.documents[self.index], self.path)[self.path[-1]] = value

    def delete(self) -> None:
        if not self.path:
            del self.documents[self.index]
        else:
            del container_of(self.documents[self.index], self.path)[self.path[-1]]


def _is_number(_: NodePath, value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_string(_: NodePath, value: Any) -> bool:
    return isinstance(value, str)


def _is_entry(path: NodePath, _: Any) -> bool:
    return bool(path) and not isinstance(path[-1], int)


def _is_mapping(_: NodePath, value: Any) -> bool:
    return isinstance(unwrap(value)[1], dict)


def _any(_: NodePath, __: Any) -> bool:
    return True


def _document(ws: Workspace, file: int, doc: int) -> tuple[str, list[Any], int] | None:
    name = ws.pick(file)
    documents = ws.documents(name) if name is not None else None
    if name is None or not documents:
        return None
    return name, documents, doc % len(documents)


def pick_node(ws: Workspace, file: int, doc: int, node: int, want: Want = _any) -> Target | None:
    """The node-th node (modulo) of those `want` accepts, or None when there is none."""
    found = _document(ws, file, doc)
    if found is None:
        return None
    name, documents, index = found
    paths = [path for path, value in walk(documents[index]) if want(path, value)]
    if not paths:
        return None
    return Target(name, documents, index, paths[node % len(paths)])


def pick_field(ws: Workspace, field: str, node: int, want: Want = _any) -> Target | None:
    """The node-th node (modulo), in any file and document, of those below a key named
    `field` that `want` accepts."""
    targets = []
    for name in ws.names():
        documents = ws.documents(name) or []
        for index, document in enumerate(documents):
            targets += [
                Target(name, documents, index, path)
                for path, value in walk(document)
                if field in path and want(path, value)
            ]
    return targets[node % len(targets)] if targets else None


def _free_key(mapping: dict[Any, Any], key: Any) -> Any:
    """key itself, or a DupKey when the mapping has it already (a duplicate on purpose)."""
    return DupKey(key) if isinstance(key, str) and key in mapping else key


SKIPPED = "skipped: no such node"


@dataclass(frozen=True)
class Delete:
    """Delete a key, a list item or, at the root, the whole document."""

    raw: ClassVar[bool] = False
    file: int
    doc: int
    node: int

    def apply(self, ws: Workspace) -> str:
        target = pick_node(ws, self.file, self.doc, self.node)
        if target is None:
            return f"delete: {SKIPPED}"
        target.delete()
        return f"delete {target.where()}"


@dataclass(frozen=True)
class Replace:
    """Replace any node (a type swap, a tagged or aliased token, a weird string...)."""

    raw: ClassVar[bool] = False
    file: int
    doc: int
    node: int
    value: Any

    def apply(self, ws: Workspace) -> str:
        target = pick_node(ws, self.file, self.doc, self.node)
        if target is None:
            return f"replace: {SKIPPED}"
        target.set(self.value)
        return f"replace {target.where()} with {short(self.value)}"


@dataclass(frozen=True)
class ReplaceNumber:
    """Replace a number by an extreme one (the type stays a number: more cases stay valid)."""

    raw: ClassVar[bool] = False
    file: int
    doc: int
    node: int
    value: Any

    def apply(self, ws: Workspace) -> str:
        target = pick_node(ws, self.file, self.doc, self.node, _is_number)
        if target is None:
            return f"replace number: {SKIPPED}"
        old = target.value
        target.set(self.value)
        return f"replace number {target.where()} ({old!r}) with {short(self.value)}"


def _insert(target: Target, payload: Str | Long, at: int) -> str:
    old: str = target.value
    cut = at % (len(old) + 1)
    text = payload.fill * payload.count if isinstance(payload, Long) else payload.text
    target.set(Str(old[:cut] + text + old[cut:], payload.style))
    return f"edit {target.where()} ({old!r}): insert {short(payload)} at {cut} ({payload.style})"


@dataclass(frozen=True)
class EditString:
    """Insert a payload into a string value at position `at` (modulo its length + 1)."""

    raw: ClassVar[bool] = False
    file: int
    doc: int
    node: int
    payload: Str | Long
    at: int

    def apply(self, ws: Workspace) -> str:
        target = pick_node(ws, self.file, self.doc, self.node, _is_string)
        if target is None:
            return f"edit string: {SKIPPED}"
        return _insert(target, self.payload, self.at)


@dataclass(frozen=True)
class EditField:
    """Insert a payload into a string below a key of that name, in any file: the single-line
    values that end up in generated files (versions, regions, images, runtimes...)."""

    raw: ClassVar[bool] = False
    field: str
    node: int
    payload: Str | Long
    at: int

    def apply(self, ws: Workspace) -> str:
        target = pick_field(ws, self.field, self.node, _is_string)
        if target is None:
            return f"edit field {self.field}: {SKIPPED}"
        return _insert(target, self.payload, self.at)


@dataclass(frozen=True)
class NumberField:
    """Replace a number below a key of that name, in any file, by an extreme one."""

    raw: ClassVar[bool] = False
    field: str
    node: int
    value: Any

    def apply(self, ws: Workspace) -> str:
        target = pick_field(ws, self.field, self.node, _is_number)
        if target is None:
            return f"number field {self.field}: {SKIPPED}"
        old = target.value
        target.set(self.value)
        return f"replace number {target.where()} ({old!r}) with {short(self.value)}"


@dataclass(frozen=True)
class RenameKey:
    """Rename a mapping key (to an existing sibling's name: a duplicate key)."""

    raw: ClassVar[bool] = False
    file: int
    doc: int
    node: int
    key: Any

    def apply(self, ws: Workspace) -> str:
        target = pick_node(ws, self.file, self.doc, self.node, _is_entry)
        if target is None:
            return f"rename key: {SKIPPED}"
        mapping = container_of(target.documents[target.index], target.path)
        old = target.path[-1]
        items = list(mapping.items())
        mapping.clear()
        for key, value in items:
            mapping[_free_key(mapping, self.key) if key is old else key] = value
        return f"rename key {target.where()} to {short(self.key)}"


@dataclass(frozen=True)
class DuplicateKey:
    """Write a mapping entry twice (the copy right after the original)."""

    raw: ClassVar[bool] = False
    file: int
    doc: int
    node: int

    def apply(self, ws: Workspace) -> str:
        target = pick_node(ws, self.file, self.doc, self.node, _is_entry)
        if target is None or not isinstance(target.path[-1], str):
            return f"duplicate key: {SKIPPED}"
        mapping = container_of(target.documents[target.index], target.path)
        items = list(mapping.items())
        mapping.clear()
        for key, value in items:
            mapping[key] = value
            if key is target.path[-1]:
                mapping[DupKey(key)] = copy.deepcopy(value)
        return f"duplicate key {target.where()}"


@dataclass(frozen=True)
class AddKey:
    """Add a key (unknown, or one that exists: a duplicate) to a mapping."""

    raw: ClassVar[bool] = False
    file: int
    doc: int
    node: int
    key: Any
    value: Any

    def apply(self, ws: Workspace) -> str:
        target = pick_node(ws, self.file, self.doc, self.node, _is_mapping)
        if target is None:
            return f"add key: {SKIPPED}"
        mapping = unwrap(target.value)[1]
        mapping[_free_key(mapping, self.key)] = self.value
        return f"add key {short(self.key)}: {short(self.value)} to {target.where()}"


@dataclass(frozen=True)
class Tag:
    """Put a YAML tag on a node (`!!python/object`, `!custom`, `!!binary`, `!!int`...)."""

    raw: ClassVar[bool] = False
    file: int
    doc: int
    node: int
    tag: str

    def apply(self, ws: Workspace) -> str:
        target = pick_node(ws, self.file, self.doc, self.node)
        if target is None:
            return f"tag: {SKIPPED}"
        target.set(Tagged(self.tag, target.value))
        return f"tag {target.where()} {self.tag}"


def _inside(ancestor: NodePath, path: NodePath) -> bool:
    return path[: len(ancestor)] == ancestor


@dataclass(frozen=True)
class Alias:
    """Anchor a node, then refer to it from a later node: the later node becomes `*a`, or
    with merge=True its mapping gets a merge key `<<: *a`."""

    raw: ClassVar[bool] = False
    file: int
    doc: int
    anchor: int
    later: int
    merge: bool

    def apply(self, ws: Workspace) -> str:
        anchored = pick_node(ws, self.file, self.doc, self.anchor)
        if anchored is None:
            return f"alias: {SKIPPED}"
        root = anchored.documents[anchored.index]
        paths = [path for path, _ in walk(root)]
        start = paths.index(anchored.path)
        # outside the anchored subtree: an alias inside it would refer to itself
        after = [p for p in paths[start + 1 :] if not _inside(anchored.path, p)]
        if not after:
            return f"alias: nothing after {anchored.where()}"
        name = f"a{start}"
        anchored.set(Anchored(name, anchored.value))
        path = after[self.later % len(after)]
        target = Target(anchored.name, anchored.documents, anchored.index, path)
        if self.merge:
            while target.path and not _is_mapping(target.path, target.value):
                target = Target(target.name, target.documents, target.index, target.path[:-1])
            mapping = unwrap(target.value)[1]
            if not isinstance(mapping, dict):
                return f"merge: no mapping at or above {show_path(path)}"
            mapping[_free_key(mapping, "<<")] = Raw(f"*{name}")
            return f"anchor {anchored.where()} &{name}, merge <<: *{name} into {target.where()}"
        target.set(Raw(f"*{name}"))
        return f"anchor {anchored.where()} &{name}, alias it at {target.where()}"


@dataclass(frozen=True)
class Nest:
    """Bury a node `depth` levels deep in flow lists or mappings."""

    raw: ClassVar[bool] = False
    file: int
    doc: int
    node: int
    depth: int
    mappings: bool

    def apply(self, ws: Workspace) -> str:
        target = pick_node(ws, self.file, self.doc, self.node)
        if target is None:
            return f"nest: {SKIPPED}"
        inner = unwrap(target.value)[1]
        token = "x" if _is_block(inner) else scalar_token(inner)
        opening, closing = ("{k: ", "}") if self.mappings else ("[", "]")
        target.set(Raw(opening * self.depth + token + closing * self.depth))
        return f"nest {target.where()} {self.depth} levels deep in {opening.strip()}"


@dataclass(frozen=True)
class AliasBomb:
    """Add a key whose value expands to width**depth nodes through aliases."""

    raw: ClassVar[bool] = False
    file: int
    doc: int
    width: int
    depth: int

    def apply(self, ws: Workspace) -> str:
        target = pick_node(ws, self.file, self.doc, 0, _is_mapping)
        if target is None:
            return f"alias bomb: {SKIPPED}"
        levels = ["&b0 x"] + [
            f"&b{i} [" + ", ".join([f"*b{i - 1}"] * self.width) + "]"
            for i in range(1, self.depth + 1)
        ]
        mapping = unwrap(target.value)[1]
        mapping[_free_key(mapping, "bomb")] = Raw("[" + ", ".join(levels) + "]")
        return f"alias bomb {self.width}**{self.depth} in {target.where()}"


# --- documents and files -------------------------------------------------------------------


def _documents_of(ws: Workspace, file: int) -> tuple[str, list[Any]] | None:
    name = ws.pick(file)
    documents = ws.documents(name) if name is not None else None
    return None if name is None or documents is None else (name, documents)


@dataclass(frozen=True)
class InsertDoc:
    """Insert a document written verbatim: empty, a comment, a scalar, a list..."""

    raw: ClassVar[bool] = False
    file: int
    at: int
    text: str

    def apply(self, ws: Workspace) -> str:
        found = _documents_of(ws, self.file)
        if found is None:
            return f"insert document: {SKIPPED}"
        name, documents = found
        at = self.at % (len(documents) + 1)
        documents.insert(at, RawDoc(self.text))
        return f"insert document {self.text!r} in {name} at {at}"


@dataclass(frozen=True)
class DuplicateDoc:
    raw: ClassVar[bool] = False
    file: int
    doc: int

    def apply(self, ws: Workspace) -> str:
        found = _document(ws, self.file, self.doc)
        if found is None:
            return f"duplicate document: {SKIPPED}"
        name, documents, index = found
        documents.insert(index + 1, copy.deepcopy(documents[index]))
        return f"duplicate document {name}#{index}"


@dataclass(frozen=True)
class ManyDocs:
    """Append `count` tiny documents to a file."""

    raw: ClassVar[bool] = False
    file: int
    count: int
    text: str

    def apply(self, ws: Workspace) -> str:
        found = _documents_of(ws, self.file)
        if found is None:
            return f"many documents: {SKIPPED}"
        name, documents = found
        documents.extend(RawDoc(self.text) for _ in range(self.count))
        return f"append {self.count} documents {self.text!r} to {name}"


@dataclass(frozen=True)
class AddFile:
    raw: ClassVar[bool] = False
    name: str
    text: str

    def apply(self, ws: Workspace) -> str:
        ws.remove(self.name)
        ws.files[self.name] = self.text.encode("utf-8", "surrogateescape")
        return f"add file {self.name!r}: {short(self.text)}"


@dataclass(frozen=True)
class BigFile:
    """A comment-only file of `size` bytes (the loader's size limit is 2 MiB)."""

    raw: ClassVar[bool] = False
    name: str
    size: int

    def apply(self, ws: Workspace) -> str:
        ws.remove(self.name)
        ws.files[self.name] = b"#" * (self.size - 1) + b"\n"
        return f"add file {self.name!r} of {self.size} bytes"


@dataclass(frozen=True)
class CopyFile:
    """Copy a file under another name (every name it defines is then defined twice)."""

    raw: ClassVar[bool] = False
    file: int
    name: str

    def apply(self, ws: Workspace) -> str:
        source = ws.pick(self.file)
        if source is None or source == self.name:
            return f"copy file: {SKIPPED}"
        data = ws.content(source)
        ws.remove(self.name)
        ws.files[self.name] = data
        return f"copy {source} to {self.name!r}"


@dataclass(frozen=True)
class DeleteFile:
    raw: ClassVar[bool] = False
    file: int

    def apply(self, ws: Workspace) -> str:
        name = ws.pick(self.file)
        if name is None:
            return f"delete file: {SKIPPED}"
        ws.remove(name)
        return f"delete file {name}"


# --- raw mutations: bytes ------------------------------------------------------------------


def _lines(ws: Workspace, file: int) -> tuple[str, list[bytes]] | None:
    name = ws.pick(file)
    return None if name is None else (name, ws.files[name].splitlines(keepends=True))


@dataclass(frozen=True)
class DeleteLine:
    raw: ClassVar[bool] = True
    file: int
    line: int

    def apply(self, ws: Workspace) -> str:
        found = _lines(ws, self.file)
        if found is None or not found[1]:
            return f"delete line: {SKIPPED}"
        name, lines = found
        index = self.line % len(lines)
        gone = lines.pop(index)
        ws.files[name] = b"".join(lines)
        return f"delete line {index + 1} of {name}: {short(gone)}"


@dataclass(frozen=True)
class DuplicateLine:
    raw: ClassVar[bool] = True
    file: int
    line: int

    def apply(self, ws: Workspace) -> str:
        found = _lines(ws, self.file)
        if found is None or not found[1]:
            return f"duplicate line: {SKIPPED}"
        name, lines = found
        index = self.line % len(lines)
        line = lines[index] if lines[index].endswith((b"\n", b"\r")) else lines[index] + b"\n"
        lines.insert(index, line)
        ws.files[name] = b"".join(lines)
        return f"duplicate line {index + 1} of {name}: {short(lines[index])}"


@dataclass(frozen=True)
class IndentLine:
    raw: ClassVar[bool] = True
    file: int
    line: int
    prefix: bytes

    def apply(self, ws: Workspace) -> str:
        found = _lines(ws, self.file)
        if found is None or not found[1]:
            return f"indent line: {SKIPPED}"
        name, lines = found
        index = self.line % len(lines)
        lines[index] = self.prefix + lines[index]
        ws.files[name] = b"".join(lines)
        return f"prefix line {index + 1} of {name} with {self.prefix!r}"


@dataclass(frozen=True)
class InsertBytes:
    raw: ClassVar[bool] = True
    file: int
    offset: int
    data: bytes

    def apply(self, ws: Workspace) -> str:
        name = ws.pick(self.file)
        if name is None:
            return f"insert bytes: {SKIPPED}"
        content = ws.files[name]
        at = self.offset % (len(content) + 1)
        ws.files[name] = content[:at] + self.data + content[at:]
        return f"insert {self.data!r} in {name} at byte {at}"


@dataclass(frozen=True)
class Truncate:
    raw: ClassVar[bool] = True
    file: int
    offset: int

    def apply(self, ws: Workspace) -> str:
        name = ws.pick(self.file)
        if name is None:
            return f"truncate: {SKIPPED}"
        content = ws.files[name]
        at = self.offset % (len(content) + 1)
        ws.files[name] = content[:at]
        return f"truncate {name} to {at} bytes"


@dataclass(frozen=True)
class LineEndings:
    """Rewrite every LF as CRLF or as a lone CR (old Mac)."""

    raw: ClassVar[bool] = True
    file: int
    newline: bytes

    def apply(self, ws: Workspace) -> str:
        name = ws.pick(self.file)
        if name is None:
            return f"line endings: {SKIPPED}"
        ws.files[name] = ws.files[name].replace(b"\n", self.newline)
        return f"line endings of {name} to {self.newline!r}"


# --- strategies ----------------------------------------------------------------------------

STYLES = ("escaped", "raw", "single")
TYPE_SWAPS: list[Any] = [
    *(None, True, False, 0, 1, -1, 1.5, "", "x", "null", "true", "1.0", "0x10"),
    *([], {}, ["a"], {"a": "b"}, [[]], [{}], Raw("~"), Raw("''"), Raw("[]"), Raw("{}")),
]
EXTREME_NUMBERS: list[Any] = [
    *(0, -1, 1e308, -1e308, 5e-324, -0.0, 2**31, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**30),
    *(nan, inf, -inf, Raw(".nan"), Raw(".NaN"), Raw(".inf")),
    *(Raw("-.inf"), Raw("1e999"), Raw("-1e999"), Raw("1e-400"), Raw("0x" + "f" * 40)),
    *(Raw("9" * 4301), Raw("-" + "9" * 5000), Raw("0o777"), Raw("+1"), Raw("1_000")),
    *(Raw("0b101"), Raw(".5"), Raw("1."), Raw("-0")),
]
LONE_SURROGATES = ["\ud800", "\udfff", "\udc80", "a\ud83db"]
LINE_SEPARATORS = ["\u2028", "\u2029", "\x85", "a\u2028b", "\u2028" * 40]
ODD_TEXT = [
    *("\x00", "a\x00b", "\u200f", "\u202e", "\u200b", "\ufeff", "\U0001f680", "é", "İ", "ß"),
    *("\U0001f469\u200d\U0001f469\u200d\U0001f467", "\x1b[31m", "\t", " ", "", "\x7f"),
    *("\ufffd", "\U0010ffff", "\x07"),
]
INJECTIONS = [
    *("\n", "\r\n", "\r", "a\nb: c", "\n---\n", "\n# c", f"${{{CANARY}}}", "${", "%{"),
    *(f"%{{{CANARY}}}", f"$${{{CANARY}}}", f"${{{CANARY}", '"', "'", "\\", "\\n", "\\u0000"),
    *(f"{{{{{CANARY}}}}}", f"$({CANARY})", "`", "#", " #x", ": ", "- ", "*", "&", "!", "|"),
    *(">", "@", "%", ",", "[", "]", "{", "}", "<<", "*/", "-->", '"}', "'; ", '\\"', "%0A"),
]
ALL_TEXT = LONE_SURROGATES + LINE_SEPARATORS + ODD_TEXT + INJECTIONS
# keys whose string values are copied into generated files
STRING_FIELDS = [
    *("version", "region", "image", "runtime", "command", "args", "name", "namespace"),
    *("cluster", "project", "account", "subscription", "resourceGroup", "registry", "uri"),
    *("storageUri", "owner", "labels", "env", "secrets", "schedule", "format", "features"),
    *("trackingUri", "experimentName", "images", "repoURL", "targetRevision", "destinations"),
    *("machineType", "accelerator", "metric", "memory", "cpu", "freshness", "timeout"),
]
NUMBER_FIELDS = [
    *("hyperparameters", "gpus", "nodes", "retries", "capacityRps", "slo", "canaryPercent"),
    *("rollback", "autoscaling", "threshold", "gates", "gpusPerNode", "minNodes", "maxNodes"),
    *("diskGb", "quality", "policies", "maxGpusPerModel", "maxMonthlyCostUsd"),
]
RAW_TOKENS = [
    *("*undefined", "[a, *undefined]", "!!binary aGVsbG8=", "!custom x", "!custom {a: 1}"),
    *("!!python/object:os.system {}", "!!python/object/apply:os.system [echo]", "!!set {a, b}"),
    *("!!timestamp 2001-12-14", "2001-12-14", "2001-12-14T21:59:43.10-05:00", "0o8"),
    *("{a: [b, {c: d}]}", "[[[[]]]]", "!!float xyz", "!!null x", "!!bool maybe", "!!str 12"),
    *("!!int 12", "!!int abc", "!!map {}", "!!seq []", "!!omap [a: 1]", "!e!foo x"),
    *("!<tag:example.com,2000:x> y", '"\\ud800"', '"\\x00"', '"\\N\\_\\L\\P"', "'it''s'"),
    *("- x", "? x", "&anchor value"),
]
TAGS = [
    *("!!python/object:os.system", "!!python/object/apply:subprocess.Popen", "!custom", "!"),
    *("!!binary", "!!str", "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq", "!!set"),
    *("!!omap", "!!timestamp", "!<tag:yaml.org,2002:str>", "!<tag:example.com,2000:x>", "!e!x"),
]
KEYS: list[Any] = [
    *("", "<<", "1", "null", "~", "true", "kind", "apiVersion", "metadata", "spec", "name"),
    *("Kind", "spec ", " spec", "ключ", "a b", "a:b", "#", "-", "x" * 300, "\ud800"),
    *("\u2028", "\U0001f680", "${x}", "a\nb", "\x00"),
    *(Raw("[a]"), Raw("{a: b}"), Raw("*undefined"), Raw("!!int 1"), Raw('"a\\nb"'), Raw("1")),
]
DOCUMENTS = [
    *("", "# only a comment\n", "~\n", "42\n", "'text'\n", "[a, b]\n", "{}\n", "- a\n- b\n"),
    *("!!binary aGk=\n", "...\n", "a: 1\n", "kind: Model\n", "kind: []\n", "apiVersion: 1\n"),
    *("%YAML 1.2\n", "--- |\n  block\n", "&a x\n", "*a\n", "? [a]\n: b\n", "\t\n"),
]
TINY_DOCUMENTS = [
    *("{}\n", "a: 1\n", "kind: Model\n", "~\n", "", "- x\n"),
    "apiVersion: modelkiln.dev/v1alpha1\nkind: GpuPool\nmetadata: {name: p}\nspec: {}\n",
]
FILE_NAMES = [
    *("models/extra.yaml", "models/ünïcødé-\U0001f680.yaml", "models/sp ace.yml"),
    *("models/.hidden.yaml", "deploy/ignored.yaml", "a/b/c/d/e/deep.yaml", "extra.yml"),
    *("models/new\nline.yaml", "models/bad\udcff.yaml", "models/x.YAML", "modelplane.yaml"),
    *("models/-dash.yaml", "models/#hash.yaml", "models/%25.yaml", "models/a:b.yaml"),
]
FILE_TEXTS = [*DOCUMENTS, "---\n---\n---\n", "\ufeffa: 1\n", "\xff\xfe"]
BYTES = [
    *(b"\x00", b"\t", b"\r", b"\n", b"\xff", b"\xc3", b"\xef\xbb\xbf", b"\xe2\x80\xa8"),
    *(b"\xc2\x85", b":", b": ", b"- ", b"{", b"[", b"]", b"}", b'"', b"'", b"&a ", b"*a"),
    *(b"!", b"%", b"@", b"`", b"#", b"|", b">", b"? ", b"---\n", b"...\n", b"  ", b"\\"),
    *(b"\xf0\x9f\x9a\x80", b"\xed\xa0\x80", b"\x1b", b"\x7f", b"\r\n"),
]

index = st.integers(0, 10_000)
NOT_FINITE: list[Any] = [nan, inf, -inf, Raw(".nan"), Raw("-.inf")]
numbers = st.sampled_from(NOT_FINITE) | st.sampled_from(EXTREME_NUMBERS)


def texts() -> st.SearchStrategy[Str | Long]:
    long = st.builds(
        Long,
        st.sampled_from(["x", "é", "\U0001f680", "a\n", "\u2028", "${", "\ud800"]),
        st.sampled_from([1_000, 30_000, 100_000]),
        st.sampled_from(STYLES),
    )
    # one category at a time: surrogates are as likely as any injection
    short_text = st.one_of(
        *(st.sampled_from(group) for group in (LONE_SURROGATES, LINE_SEPARATORS, ODD_TEXT)),
        st.sampled_from(INJECTIONS),
        st.text(max_size=12),
    )
    return st.builds(Str, short_text, st.sampled_from(STYLES)) | long


def values() -> st.SearchStrategy[Any]:
    return (
        st.sampled_from(TYPE_SWAPS)
        | st.sampled_from(EXTREME_NUMBERS)
        | texts()
        | st.sampled_from(RAW_TOKENS).map(Raw)
    )


def _node_mutations() -> st.SearchStrategy[Mutation]:
    return st.one_of(
        st.builds(Delete, index, index, index),
        st.builds(Replace, index, index, index, values()),
        st.builds(ReplaceNumber, index, index, index, numbers),
        st.builds(EditString, index, index, index, texts(), index),
        st.builds(RenameKey, index, index, index, st.sampled_from(KEYS)),
        st.builds(DuplicateKey, index, index, index),
        st.builds(AddKey, index, index, index, st.sampled_from(KEYS), values()),
        st.builds(Tag, index, index, index, st.sampled_from(TAGS)),
        st.builds(Alias, index, index, index, index, st.booleans()),
        st.builds(Nest, index, index, index, st.sampled_from([2, 63, 64, 65, 1000]), st.booleans()),
    )


def _file_mutations() -> st.SearchStrategy[Mutation]:
    return st.one_of(
        st.builds(InsertDoc, index, index, st.sampled_from(DOCUMENTS)),
        st.builds(DuplicateDoc, index, index),
        st.builds(
            ManyDocs,
            index,
            st.sampled_from([100, 1000, 2000, 3000]),
            st.sampled_from(TINY_DOCUMENTS),
        ),
        st.builds(AliasBomb, index, index, st.sampled_from([2, 10]), st.sampled_from([3, 9])),
        st.builds(AddFile, st.sampled_from(FILE_NAMES), st.sampled_from(FILE_TEXTS)),
        st.builds(BigFile, st.sampled_from(FILE_NAMES[:1]), st.sampled_from([2**21, 2**21 + 1])),
        st.builds(CopyFile, index, st.sampled_from(FILE_NAMES)),
        st.builds(DeleteFile, index),
    )


def _raw_mutations() -> st.SearchStrategy[Mutation]:
    return st.one_of(
        st.builds(DeleteLine, index, index),
        st.builds(DuplicateLine, index, index),
        st.builds(IndentLine, index, index, st.sampled_from([b" ", b"  ", b"\t", b"    "])),
        st.builds(InsertBytes, index, index, st.sampled_from(BYTES)),
        st.builds(Truncate, index, index),
        st.builds(LineEndings, index, st.sampled_from([b"\r\n", b"\r"])),
    )


def mutations() -> st.SearchStrategy[Mutation]:
    # Node edits are the most frequent: they are the ones that can leave a spec valid, and
    # only valid specs reach the compiler.
    return st.one_of(_node_mutations(), _node_mutations(), _file_mutations(), _raw_mutations())


@dataclass(frozen=True)
class Case:
    example: str
    mutations: tuple[Mutation, ...]


def _gentle_mutations() -> st.SearchStrategy[Mutation]:
    """Edits that keep a value's type: specs often stay valid and reach the compiler."""
    return st.one_of(
        st.builds(EditField, st.sampled_from(STRING_FIELDS), index, texts(), index),
        st.builds(NumberField, st.sampled_from(NUMBER_FIELDS), index, numbers),
        st.builds(EditString, index, index, index, texts(), index),
        st.builds(ReplaceNumber, index, index, index, numbers),
        st.builds(Alias, index, index, index, index, st.just(False)),
    )


def cases(examples: tuple[str, ...]) -> st.SearchStrategy[Case]:
    gentle = st.lists(_gentle_mutations(), min_size=1, max_size=2)
    wild = st.lists(mutations(), min_size=1, max_size=4)
    return st.builds(Case, st.sampled_from(examples), (gentle | wild).map(tuple))


# --- a twin case, for the line-number oracle ------------------------------------------------

SEPARATORS = ("\u2028", "\u2029")
# raw characters that change how a file parses (or what it means) when written unescaped
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x85\ufeff\ud800-\udfff]")


def _escaped_twin(value: Any) -> Any:
    if not isinstance(value, Str | Long) or value.style == "escaped":
        return value
    text = value.fill if isinstance(value, Long) else value.text
    if not any(sep in text for sep in SEPARATORS) or _UNSAFE.search(text):
        return value
    return dataclasses.replace(value, style="escaped")


def with_separators_escaped(case: Case) -> Case | None:
    """The same case with the U+2028 and U+2029 it writes raw inside quotes written as
    escapes instead: the same data on the same lines, so the same diagnostics on the same
    lines. None when the case writes none, or when it also edits raw bytes (a truncation or
    a byte edit at an offset cuts the longer escapes elsewhere: not the same data)."""
    if any(type(m).raw for m in case.mutations):
        return None
    twins, changed = [], False
    for mutation in case.mutations:
        changes = {}
        for f in dataclasses.fields(mutation):  # type: ignore[arg-type]
            value = getattr(mutation, f.name)
            twin = _escaped_twin(value)
            if twin is not value:
                changes[f.name] = twin
        changed = changed or bool(changes)
        twins.append(dataclasses.replace(mutation, **changes))  # type: ignore[type-var]
    return Case(case.example, tuple(twins)) if changed else None
