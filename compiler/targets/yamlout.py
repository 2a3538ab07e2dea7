"""Deterministic YAML for rendered manifests: block style, sorted keys.

Written by fastyaml (thousands of manifests per compile; PyYAML's Python representer was
the largest cost). Sorted keys suit Kubernetes: apiVersion, kind, metadata, spec.
"""

from __future__ import annotations

import re
from typing import Any

from compiler.targets import fastyaml

# Characters a YAML stream cannot hold (outside c-printable), escaped in comments. Line
# breaks are not among them: comment lines are split at every one str.splitlines knows.
_NOT_PRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    point = ord(match.group())
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


def _safe(line: str) -> str:
    return line if line.isascii() and line.isprintable() else _NOT_PRINTABLE.sub(_escape, line)


def comment_lines(text: str) -> str:
    """text as a block of YAML comment lines, whatever it holds: it is split at every line
    break (str.splitlines), a line that does not start with "#" (the rest of a value with
    a line break in it) gets "# " before it, and characters YAML cannot hold are escaped."""
    return "".join(
        (_safe(line) if line.startswith("#") else ("# " + _safe(line)).rstrip(" ")) + "\n"
        for line in text.splitlines()
    )


def _comment(header: str | None) -> str:
    if not header:
        return ""
    return comment_lines("\n".join(f"# {line}" for line in header.splitlines()))


def dump(obj: Any, *, header: str | None = None) -> bytes:
    """YAML bytes for obj, with header as a leading comment."""
    return (_comment(header) + fastyaml.dump(obj)).encode()


def dump_all(objs: list[Any], *, header: str | None = None) -> bytes:
    """Several documents in one file, separated by ---."""
    return (_comment(header) + fastyaml.dump_all(objs)).encode()
