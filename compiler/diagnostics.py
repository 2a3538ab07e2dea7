"""The one diagnostic type, and its formatters (text, json, github, sarif)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


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
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest choice, or None when nothing is close."""
    match = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else None


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
    # GitHub workflow-command escaping for the message part.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


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
        text = d.message + (f" (hint: {d.hint})" if d.hint else "")
        results.append(
            {
                "ruleId": d.code,
                "ruleIndex": index[d.code],
                "level": d.severity,
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": d.file, "uriBaseId": "%SRCROOT%"},
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


def text_lines(
    diagnostics: Sequence[Diagnostic], sources: dict[str, list[str]]
) -> list[tuple[str, str]]:
    """Compiler-style report as (style, line) pairs: location, code and message, the source
    line with a caret under the column, the hint, and a count. Styles are rich style names."""
    out: list[tuple[str, str]] = []
    for d in diagnostics:
        style = "bold red" if d.severity == "error" else "bold yellow"
        out.append((style, f"{d.file}:{d.line}:{d.column}: {d.severity}[{d.code}]: {d.message}"))
        lines = sources.get(d.file)
        if lines and 1 <= d.line <= len(lines):
            gutter = f"{d.line:>5} | "
            out.append(("dim", gutter + lines[d.line - 1].rstrip("\n")))
            out.append((style, " " * (len(gutter) + max(d.column - 1, 0)) + "^"))
        if d.hint:
            out.append(("cyan", f"      = hint: {d.hint}"))
    if diagnostics:
        errors = sum(1 for d in diagnostics if d.severity == "error")
        out.append(("bold", f"{errors} error(s), {len(diagnostics) - errors} warning(s)"))
    return out


def format_text(diagnostics: Sequence[Diagnostic], sources: dict[str, list[str]]) -> str:
    return "".join(line + "\n" for _, line in text_lines(diagnostics, sources))
