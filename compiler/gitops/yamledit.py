"""Set scalar values in a YAML file and change nothing else, byte for byte.

ruamel.yaml's round trip keeps comments, key order, quoting and flow style, but its dump
still normalises a file (ruamel.yaml 0.19: one sequence indentation for the whole file,
`{ a: 1 }` written `{a: 1}`, a comment before the first `---` dropped). So the edit is
located with ruamel's composer (the node of every key, with its exact start and end in the
text) and spliced into the original text: replacing a scalar rewrites only its span, a
missing key is inserted as new lines in a block mapping or as `, key: value` in a flow
mapping. The result is read again with ruamel and must equal the original data with the
edits applied, else EditError (nothing is written by this module).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str, ...]


_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_YAML11_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}  # YAML 1.1 readers


class EditError(Exception):
    """The file cannot be edited in place faithfully (a key inside a list, an alias, …)."""


@dataclass(frozen=True)
class Edit:
    path: Path  # keys from the document's root
    value: str | None  # None writes null (a JSON merge patch's "remove this key")


def apply_edits(text: str, document: int, edits: Sequence[Edit]) -> str:
    """text with every edit applied to its document-th document (0-based)."""
    new = text
    for edit in edits:
        new = _apply(new, document, edit)
    _verify(text, new, document, edits)
    return new


def _documents(text: str) -> list[Node]:
    return list(YAML(typ="rt", pure=True).compose_all(text))


def _apply(text: str, document: int, edit: Edit) -> str:
    node: Node = _documents(text)[document]
    parent_column = -1
    for depth, key in enumerate(edit.path):
        rest = edit.path[depth:]
        if not isinstance(node, MappingNode):
            raise EditError(f"{'.'.join(edit.path[:depth])} is not a mapping")
        found = _child(node, key)
        if found is None:
            return _insert(text, node, parent_column, rest, edit.value)
        if node.value:
            parent_column = node.value[0][0].start_mark.column
        node = found
    if not isinstance(node, ScalarNode) or node.anchor is not None:
        raise EditError(f"{'.'.join(edit.path)} is not a plain value that can be replaced")
    start, end = node.start_mark.index, node.end_mark.index
    return text[:start] + _scalar(edit.value, node.style) + text[end:]


def _child(node: MappingNode, key: str) -> Node | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            if value_node.__class__.__name__ == "AliasNode" or getattr(value_node, "anchor", None):
                raise EditError(f"{key} is an anchor or an alias: edit it by hand")
            found: Node = value_node
            return found
    return None


def _scalar(value: str | None, style: str | None = None) -> str:
    if value is None:
        return "null"
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"':
        return json.dumps(value)
    # plain only when every YAML reader takes it as this string: no ':' (libyaml, YAML 1.1,
    # refuses `s3://…` inside a flow mapping), nothing that reads as a number, bool or null
    if (
        _PLAIN.fullmatch(value)
        and value.lower() not in _YAML11_WORDS
        and YAML(typ="safe", pure=True).load(f"k: {value}") == {"k": value}
    ):
        return value
    return json.dumps(value)
    return value


def _flow(keys: Path, value: str | None) -> str:
    """`k1: {k2: value}` for the keys still missing."""
    inner = _scalar(value)
    for key in reversed(keys[1:]):
        inner = f"{{{_scalar(key)}: {inner}}}"
    return f"{_scalar(keys[0])}: {inner}"


def _insert(text: str, node: MappingNode, parent_column: int, keys: Path, value: Any) -> str:
    if node.flow_style:
        if not node.value:
            at = text.index("{", node.start_mark.index) + 1
            return text[:at] + _flow(keys, value) + text[at:]
        at = node.value[-1][1].end_mark.index
        return text[:at] + ", " + _flow(keys, value) + text[at:]
    if not node.value:
        raise EditError("an empty block mapping cannot be extended in place")
    column = node.value[0][0].start_mark.column
    step = column - parent_column if parent_column >= 0 else 2
    parts = text.split("\n")  # line breaks as ruamel counts them (not str.splitlines')
    lines = [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    last = _last_content_line(lines, node)
    newline = "\r\n" if lines[last].endswith("\r\n") else "\n"
    block = []
    for depth, key in enumerate(keys):
        pad = " " * (column + depth * max(step, 1))
        tail = f" {_scalar(value)}" if depth == len(keys) - 1 else ""
        block.append(f"{pad}{_scalar(key)}:{tail}{newline}")
    if not lines[last].endswith("\n"):
        lines[last] += newline
    lines[last + 1 : last + 1] = block
    return "".join(lines)


def _last_content_line(lines: list[str], node: Node) -> int:
    """The 0-based line where node's text ends. A block collection's end mark is where the
    next token starts (after comments and blank lines, often on the next key's line), so
    its last entry is asked instead; scalars and flow collections end at their mark."""
    if isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        if isinstance(node, MappingNode):
            key, value = last
            return max(int(key.start_mark.line), _last_content_line(lines, value))
        return max(int(last.start_mark.line), _last_content_line(lines, last))
    mark = node.end_mark
    line: int = mark.line if mark.column > 0 else mark.line - 1
    while line > 0 and (not lines[line].strip() or lines[line].lstrip().startswith("#")):
        line -= 1
    return line


def _set(data: Any, path: Path, value: str | None) -> None:
    for key in path[:-1]:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    data[path[-1]] = value


def _verify(old: str, new: str, document: int, edits: Sequence[Edit]) -> None:
    safe = YAML(typ="safe", pure=True)
    expected = [copy.deepcopy(d) for d in safe.load_all(old)]
    for edit in edits:
        _set(expected[document], edit.path, edit.value)
    if list(safe.load_all(new)) != expected:
        raise EditError("the edited file does not read back as intended: edit it by hand")
