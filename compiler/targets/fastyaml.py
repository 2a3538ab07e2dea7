"""A small, fast YAML writer for JSON-shaped data (dicts, lists, str, int, float, bool, None).

Rendering thousands of pipelines, PyYAML's Python representer was the largest cost left.
This writer emits block style with sorted keys; a string is written plain only when no
YAML 1.1 or 1.2 reader could take it for anything but that string, else as a JSON string
(JSON's double-quoted strings are valid YAML). Tests check that readers get back exactly
the data written.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

# What YAML readers do not take raw inside double quotes (controls, DEL, C1 controls with
# NEL among them, line and paragraph separators, BOM, surrogates, non-characters).
_ESCAPE = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff"\\\\]')
_NAMED = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
# The same set without the two ASCII characters str.replace handles faster.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    """A YAML double-quoted escape (\\", \\\\, \\n, \\t, \\r, \\xNN, \\uNNNN), so no reader
    sees a raw NEL, DEL or line separator; other text, "×" or "é", stays readable."""
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*\Z")
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


@functools.lru_cache(maxsize=1 << 16)
def _string(value: str) -> str:
    # Cached: the same keys and strings recur across thousands of documents.
    if _PLAIN.match(value) and value.lower() not in _RESERVED:
        return value
    if _CONTROL.search(value) is None:  # PromQL has many quotes: no callback per quote
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return '"' + _ESCAPE.sub(_escape, value) + '"'


def _scalar(value: Any) -> str:
    if type(value) is str:
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:  # 1e-05: YAML 1.1 needs a dot
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, str):
        return _string(value)
    raise TypeError(f"not JSON-shaped: {type(value).__name__}")


def _emit(value: Any, indent: str, out: list[str]) -> None:
    """Append the lines of a non-empty mapping or list value, each at indent."""
    if isinstance(value, dict):
        for key in sorted(value):
            item = value[key]
            head = f"{indent}{_string(key) if type(key) is str else _scalar(key)}:"
            if isinstance(item, dict | list) and item:
                out.append(head + "\n")
                _emit(item, indent + "  " if isinstance(item, dict) else indent, out)
            else:
                out.append(f"{head} {_inline(item)}\n")
    else:
        for item in value:
            if isinstance(item, dict) and item:
                lines: list[str] = []
                _emit(item, indent + "  ", lines)
                lines[0] = indent + "- " + lines[0][len(indent) + 2 :]
                out.extend(lines)
            elif isinstance(item, list) and item:
                lines = []
                _emit(item, indent + "  ", lines)
                lines[0] = indent + "- " + lines[0][len(indent) + 2 :]
                out.extend(lines)
            else:
                out.append(f"{indent}- {_inline(item)}\n")


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def dump(value: Any) -> str:
    """One YAML document (without the --- marker)."""
    if isinstance(value, dict | list) and value:
        out: list[str] = []
        _emit(value, "", out)
        return "".join(out)
    return _inline(value) + "\n"


def dump_all(documents: list[Any]) -> str:
    return "---\n".join(dump(d) for d in documents)
