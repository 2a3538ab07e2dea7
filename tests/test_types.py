"""Value types of the language."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.spec.types import (
    cron_problem,
    duration_seconds,
    parse_quantity,
    semver_key,
)


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
