"""Spec text as people see it: lines as YAML 1.2 counts them, and names escaped for display.

YAML 1.2 breaks lines at LF, CRLF and CR only. Python's str.splitlines() also breaks at
U+0085, U+2028, U+2029, \\x0b, \\x0c and \\x1c-\\x1e, and libyaml (the C parser) counts
U+0085, U+2028 and U+2029 as line breaks in its marks: either would shift every later line
number by one, so texts are split here and parser marks are mapped through LineMap.
"""

from __future__ import annotations

import re
from bisect import bisect_right

PathKey = tuple[str | int, ...]
Pos = tuple[int, int]  # 1-based line, column (in code points)

_BREAK = re.compile(r"\r\n?|\n")
# The characters libyaml counts as line breaks and YAML 1.2 does not.
_MISCOUNTED = re.compile("[\x85\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def split_lines(text: str) -> list[str]:
    """The lines of text, without their breaks, as YAML counts them."""
    lines = text.split("\n") if "\r" not in text else _BREAK.split(text)
    if lines and lines[-1] == "":  # the text ends with a break (or is empty)
        lines.pop()
    return lines


class LineMap:
    """Line and column of a character index, counting only YAML's own line breaks."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [match.end() for match in _BREAK.finditer(text)]

    def pos(self, index: int) -> Pos:
        line = bisect_right(self.starts, index)
        return line, index - self.starts[line - 1] + 1


def line_map(text: str) -> LineMap | None:
    """A LineMap when the parser's own line numbers would be wrong for text, else None
    (nearly always: the marks are then used as they are, which is faster)."""
    return LineMap(text) if _MISCOUNTED.search(text) else None


def printable(text: str) -> str:
    """text with what a terminal, a log or an annotation cannot show escaped: control and
    separator characters, and the undecodable bytes of a file name (surrogate escapes).
    Backslashes are doubled, so two different names never look the same."""
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, from os.fsdecode
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)
