"""Value types of the language."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field, ValidationError
from pydantic_core import PydanticCustomError

from compiler.diagnostics import Diagnostic
from compiler.load import Document, load, parse_text
from compiler.spec.base import Strict
from compiler.spec.model import HyperValue
from compiler.spec.types import (
    check_line,
    check_region,
    cron_problem,
    duration_seconds,
    parse_quantity,
    semver_key,
)
from compiler.validate import validate
from compiler.validate.schema import schema_diagnostics
from compiler.validate.values import unencodable_strings


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4", Decimal(4)),
        ("500m", Decimal("0.5")),
        ("16Gi", Decimal(2**34)),
        ("1e3", Decimal(1000)),
        ("1.5k", Decimal(1500)),
        ("0.5", Decimal("0.5")),
    ],
)
def test_quantities(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["16GB", "four", "", "1..5", "Gi"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_durations() -> None:
    assert duration_seconds("30s") == 30
    assert duration_seconds("1h30m") == 5400
    assert duration_seconds("7d") == 7 * 86400


@pytest.mark.parametrize(
    "expr",
    ["0 3 * * 1", "*/15 * * * *", "0 0 1 jan,jul *", "@daily", "0 9-17 * * mon-fri", "5 4 * * 7"],
)
def test_good_cron(expr: str) -> None:
    assert cron_problem(expr) is None


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("0 3 * *", "4 fields"),
        ("60 * * * *", "outside 0-59"),
        ("* 24 * * *", "outside 0-23"),
        ("* * 0 * *", "outside 1-31"),
        ("*/0 * * * *", "step"),
        ("* * * * funday", "not a number"),
        ("5-1 * * * *", "backwards"),
    ],
)
def test_bad_cron(expr: str, words: str) -> None:
    problem = cron_problem(expr)
    assert problem is not None and words in problem


def test_semver_order() -> None:
    versions = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-beta",
        "1.0.0-rc.1",
        "1.0.0",
        "1.2.0",
        "1.10.0",
        "2.0.0",
    ]
    assert sorted(versions, key=semver_key) == versions


@given(st.integers(0, 10**6), st.sampled_from(["", "m", "k", "Ki", "Mi", "Gi", "M", "G"]))
def test_quantity_roundtrip(number: int, suffix: str) -> None:
    assert parse_quantity(f"{number}{suffix}") >= 0


# --- single-line values, regions, finite numbers, encodable strings ------------------------


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("v1\n", "a line break at character 3"),
        ("a\rb", "a carriage return at character 2"),
        ("a\tb", "a tab at character 2"),
        ("a\x00", "control character U+0000 at character 2"),
        ("a\x1b[31m", "control character U+001B at character 2"),
        ("a\x7f", "control character U+007F at character 2"),
        ("a\x85", "a next-line character (U+0085) at character 2"),
        ("a\u2028", "a line separator (U+2028) at character 2"),
        ("a\u2029", "a paragraph separator (U+2029) at character 2"),
        ("a\ufffe", "the noncharacter U+FFFE at character 2"),
        ("\uffff", "the noncharacter U+FFFF at character 1"),
    ],
)
def test_single_line_values_refuse_control_characters(value: str, what: str) -> None:
    with pytest.raises(PydanticCustomError) as err:
        check_line(value)
    assert err.value.type == "MK221"
    assert what in err.value.message()


@pytest.mark.parametrize("value", ["v1.2.3", "ghcr.io/a/b@sha256:00", "é 🚀 ünïcode", "a b", ""])
def test_single_line_values_accept_printable_text(value: str) -> None:
    assert check_line(value) == value


PRINTABLE = st.characters(
    codec="utf-8", exclude_categories=("Cc", "Zl", "Zp"), exclude_characters="\ufffe\uffff"
)


@given(st.text(alphabet=PRINTABLE))
def test_every_printable_line_is_accepted(value: str) -> None:
    assert check_line(value) == value


def test_region_form_names_the_provider_whose_form_it_has() -> None:
    with pytest.raises(PydanticCustomError) as err:
        check_region("aws", "europe-west4")
    assert err.value.type == "MK222"
    assert err.value.message() == "'europe-west4' is not an AWS region"
    assert str((err.value.context or {})["hint"]).endswith("the form of a GCP region or zone")
    assert check_region("gcp", "europe-west4") == "europe-west4"


class _Numbers(Strict):
    value: float
    hyper: dict[str, HyperValue] = Field(default_factory=dict)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_one_mk220(number: float) -> None:
    """A union such as int | float | str | bool reports an error per member; a number that
    is not finite is said once, as what it is."""
    data = {"value": number, "hyper": {"lr": number}}
    with pytest.raises(ValidationError) as err:
        _Numbers.model_validate(data)
    found = schema_diagnostics(_Numbers, data, err.value, _at)
    assert [(d.code, d.message) for d in found] == [
        ("MK220", f"value: number {number} is not a finite number"),
        ("MK220", f"lr: number {number} is not a finite number"),
    ]


def _at(
    path: tuple[str | int, ...], code: str, message: str, hint: str | None, key: bool, /, **_: Any
) -> Diagnostic:
    return Diagnostic("f.yaml", len(path), 1, code, message, hint)


def _doc(text: str) -> Document:
    (doc,), problems = parse_text("f.yaml", text, positions=False)
    assert problems == []
    return doc


def test_lone_surrogates_found_in_values_and_keys_at_their_lines() -> None:
    doc = _doc('a: ok\nb: ["x", "y\\ud800"]\n"k\\udfff": 1\nc: {d: "\\U0001F600"}\n')
    found = unencodable_strings(doc)
    assert [(d.code, d.line, d.column) for d in found] == [("MK219", 2, 10), ("MK219", 3, 1)]
    assert found[0].message.startswith("string 'y\\ud800' holds a lone surrogate, U+D800")
    assert found[1].message.startswith("key 'k\\udfff' holds a lone surrogate")


def test_a_json_style_surrogate_pair_gets_the_yaml_spelling() -> None:
    (d,) = unencodable_strings(_doc('a: "\\ud83d\\ude00"\n'))
    assert d.hint is not None and "write \\U0001F600 (😀)" in d.hint


def test_files_without_escapes_are_not_walked(tmp_path: Path) -> None:
    (tmp_path / "modelkiln.yaml").write_text("a: plain\n")
    (tmp_path / "escaped.yaml").write_text('a: "caf\\u00e9"\n')
    sources = load(tmp_path)
    assert sources.escaped == {"escaped.yaml"}
    for doc in sources.documents:
        doc.data["a"] = "\ud800"  # cannot come from the plain file: its walk is skipped
    codes = [(d.file, d.code) for d in validate(sources).diagnostics if d.code == "MK219"]
    assert codes == [("escaped.yaml", "MK219")]
