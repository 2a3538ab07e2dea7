"""The one diagnostic type, the helpers that word its messages, and its formatters (text,
json, github, sarif).

Messages quote user input through `quote`/`shorten` (escaped, at most ~100 characters) and
list names through `enumerate_names` (the first few, then "and N more"); the formatters
escape what their output cannot carry, so every diagnostic prints in every format.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

QUOTE_LIMIT = 100  # characters of a user's value that a message shows
LIST_LIMIT = 5  # names that a message lists before "and N more"

# Shown escaped inside quoted values: control characters (C0, DEL, C1), the Unicode line
# and paragraph separators, bidirectional controls, and lone surrogates (not UTF-8).
_UNSAFE_IN_VALUE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ud800-\udfff]"
)
# What the text and github formats escape everywhere (a tab in a source line stays).
_UNSAFE_IN_LINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# an escape sequence cut short at the end of a shortened value
_PARTIAL_ESCAPE = re.compile(r"\\(?:x[0-9a-f]?|u[0-9a-f]{0,3})?\Z")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


def escape(text: str, pattern: re.Pattern[str] = _UNSAFE_IN_VALUE) -> str:
    """text with control characters and lone surrogates written as backslash escapes."""
    return pattern.sub(_escape_char, text)


def _shortened(value: object, limit: int) -> tuple[str, str]:
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return escape(text), ""
    shown = escape(text[:limit])
    if len(shown) > limit:  # escapes made it longer: cut again, not inside an escape
        shown = _PARTIAL_ESCAPE.sub("", shown[:limit])
    return shown + "…", f" ({len(text):,} characters)"


def shorten(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A user's value as a message shows it: escaped, and when longer than limit, its start,
    "…" and its length."""
    shown, length = _shortened(value, limit)
    return shown + length


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """shorten(value) in single quotes (the length, if shown, after the closing quote)."""
    shown, length = _shortened(value, limit)
    return f"'{shown}'{length}"


def enumerate_names(names: Iterable[object], limit: int = LIST_LIMIT) -> str:
    """The first `limit` names (in the caller's order, e.g. largest first), each shortened,
    then "and N more": "a, b, c and 12 more"."""
    items = list(names)
    shown = [shorten(n) for n in items[:limit]]
    rest = len(items) - len(shown)
    return ", ".join(shown) + (f" and {rest:,} more" if rest > 0 else "")


@dataclass(frozen=True, order=True)
class Diagnostic:
    """A problem at a place in a spec file. `file` is relative to the spec root."""

    file: str
    line: int  # 1-based
    column: int  # 1-based
    code: str
    message: str
    hint: str | None = None
    severity: Severity = "error"

    def as_dict(self) -> dict[str, object]:
        """Every string in a form any encoder writes (lone surrogates escaped)."""
        return {
            "file": printable(self.file),
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "code": self.code,
            "message": printable(self.message),
            "hint": None if self.hint is None else printable(self.hint),
        }


def printable(text: str) -> str:
    """text that encodes as UTF-8: lone surrogates (from a YAML escape, or a file name that
    is not UTF-8) become backslash escapes; everything else is kept."""
    return text if text.isascii() else escape(text, _SURROGATE)


_SURROGATE = re.compile("[\ud800-\udfff]")
_DID_YOU_MEAN_LIMIT = 200  # longer words are not typos of a name


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest choice, or None when nothing is close."""
    if len(word) > _DID_YOU_MEAN_LIMIT:
        return None
    match = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean {quote(match[0])}?" if match else None


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Stable order (file, line, column, code) and no exact duplicates."""
    return sorted(set(diagnostics))


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diagnostics)


# --- formatters -----------------------------------------------------------------------


def format_json(diagnostics: Sequence[Diagnostic]) -> str:
    payload = {
        "valid": not has_errors(diagnostics),
        "diagnostics": [d.as_dict() for d in diagnostics],
    }
    return json.dumps(payload, indent=2) + "\n"


def _escape_data(text: str) -> str:
    # GitHub workflow-command escaping for the message part; then no other control
    # character or lone surrogate is left raw.
    escaped = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return escape(escaped, _UNSAFE_IN_LINE)


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(diagnostics: Sequence[Diagnostic]) -> str:
    lines = []
    for d in diagnostics:
        message = f"[{d.code}] {d.message}"
        if d.hint:
            message += f" (hint: {d.hint})"
        props = ",".join(
            [
                f"file={_escape_property(d.file)}",
                f"line={d.line}",
                f"col={d.column}",
                f"title={_escape_property('modelkiln ' + d.code)}",
            ]
        )
        lines.append(f"::{d.severity} {props}::{_escape_data(message)}")
    return "".join(line + "\n" for line in lines)


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def format_sarif(diagnostics: Sequence[Diagnostic], tool_version: str) -> str:
    from compiler.codes import CODES  # the rule table is only needed here

    used = sorted({d.code for d in diagnostics})
    rules = [
        {
            "id": code,
            "name": CODES[code].name if code in CODES else code,
            "shortDescription": {"text": CODES[code].summary if code in CODES else code},
            "helpUri": f"https://github.com/modelkiln/modelkiln/blob/main/docs/diagnostics.md#{code.lower()}",
        }
        for code in used
    ]
    index = {code: i for i, code in enumerate(used)}
    results = []
    for d in diagnostics:
        text = printable(d.message + (f" (hint: {d.hint})" if d.hint else ""))
        results.append(
            {
                "ruleId": d.code,
                "ruleIndex": index[d.code],
                "level": d.severity,
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {
                                "uri": printable(d.file),
                                "uriBaseId": "%SRCROOT%",
                            },
                            "region": {"startLine": d.line, "startColumn": d.column},
                        }
                    }
                ],
            }
        )
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "modelkiln",
                        "version": tool_version,
                        "informationUri": "https://github.com/modelkiln/modelkiln",
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


EXCERPT_WIDTH = 160  # characters of a source line the text format shows


def _line(text: str) -> str:
    return text if text.isascii() and text.isprintable() else escape(text, _UNSAFE_IN_LINE)


def _excerpt(source: str, column: int) -> tuple[str, int]:
    """The source line (a window of it around column when it is long), escaped, and the
    offset of column in what is shown."""
    at = max(column - 1, 0)
    start, end = 0, len(source)
    if len(source) > EXCERPT_WIDTH:
        start = max(0, min(at - EXCERPT_WIDTH // 3, len(source) - EXCERPT_WIDTH))
        end = start + EXCERPT_WIDTH
    before = ("…" if start else "") + _line(source[start:at])
    shown = before + _line(source[at:end]) + ("…" if end < len(source) else "")
    return shown, len(before)


def text_lines(
    diagnostics: Sequence[Diagnostic], sources: dict[str, list[str]]
) -> list[tuple[str, str]]:
    """Compiler-style report as (style, line) pairs: location, code and message, the source
    line with a caret under the column, the hint, and a count. Styles are rich style names.
    No line holds a control character (but tab) or a lone surrogate: they are escaped."""
    out: list[tuple[str, str]] = []
    for d in diagnostics:
        style = "bold red" if d.severity == "error" else "bold yellow"
        where = f"{d.file}:{d.line}:{d.column}"
        out.append((style, _line(f"{where}: {d.severity}[{d.code}]: {d.message}")))
        lines = sources.get(d.file)
        if lines and 1 <= d.line <= len(lines):
            gutter = f"{d.line:>5} | "
            shown, caret = _excerpt(lines[d.line - 1].rstrip("\n"), d.column)
            out.append(("dim", gutter + shown))
            out.append((style, " " * (len(gutter) + caret) + "^"))
        if d.hint:
            out.append(("cyan", _line(f"      = hint: {d.hint}")))
    if diagnostics:
        errors = sum(1 for d in diagnostics if d.severity == "error")
        out.append(("bold", f"{errors} error(s), {len(diagnostics) - errors} warning(s)"))
    return out


def format_text(diagnostics: Sequence[Diagnostic], sources: dict[str, list[str]]) -> str:
    return "".join(line + "\n" for _, line in text_lines(diagnostics, sources))
