"""Checks on every string of a document, in one pass over its data (keys included).

A lone surrogate is the one string a valid UTF-8 file can still hand us: a YAML escape
(`"\\ud800"`) of half a surrogate pair. Python keeps it in a str, but nothing can write it
as UTF-8 (every output file, kfp, kubectl), so it is refused here, at its line, with the
value shown escaped. Only a `\\u` or `\\U` escape can make one, so a document whose file
has neither is skipped without walking its data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from compiler.diagnostics import Diagnostic, quote
from compiler.load import Document, PathKey

_SURROGATE = re.compile("[\ud800-\udfff]")
_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")


def _strings(node: Any, path: PathKey) -> Iterator[tuple[PathKey, str, bool]]:
    """(path, text, is a key) for every string below node."""
    if isinstance(node, str):
        yield path, node, False
    elif isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str):
                yield (*path, key), key, True
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, (*path, i))


def _hint(text: str) -> str:
    pair = _PAIR.search(text)
    if pair is None:
        return "write the character itself, or its \\U escape with eight hex digits"
    point = 0x10000 + ((ord(pair[0][0]) - 0xD800) << 10) + (ord(pair[0][1]) - 0xDC00)
    return (
        "a pair of \\u escapes is JSON's way to write one character, not YAML's: "
        f"write \\U{point:08X} ({chr(point)}) or the character itself"
    )


def unencodable_strings(doc: Document) -> list[Diagnostic]:
    """MK219 for every string (value or key) of doc that holds a lone surrogate."""
    out = []
    for path, text, is_key in _strings(doc.data, ()):
        if text.isascii():
            continue
        match = _SURROGATE.search(text)
        if match is None:
            continue
        what = "key" if is_key else "string"
        out.append(
            doc.at(
                path,
                "MK219",
                f"{what} {quote(text)} holds a lone surrogate, U+{ord(match.group()):04X} at "
                f"character {match.start() + 1}, which cannot be written as UTF-8",
                _hint(text),
                key=is_key,
            )
        )
    return out
