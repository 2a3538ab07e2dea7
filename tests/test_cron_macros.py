"""One table of cron macros: the validator, the Kubeflow recurring run and the alert rules
all read compiler.spec.types.CRON_MACROS."""

from __future__ import annotations

import pytest

from compiler.spec.types import CRON_MACROS, cron_fields, cron_problem
from compiler.targets.kubeflow import kfp_cron
from compiler.targets.serving.alerts import cron_period_seconds

PERIOD_HOURS = {
    "@hourly": 1,
    "@daily": 24,
    "@midnight": 24,
    "@weekly": 7 * 24,
    "@monthly": 31 * 24,  # the longest gap: a 31-day month
    "@yearly": 366 * 24,  # across a leap year
    "@annually": 366 * 24,
}


def test_every_macro_has_a_period() -> None:
    assert set(CRON_MACROS) == set(PERIOD_HOURS)


@pytest.mark.parametrize("macro", sorted(CRON_MACROS))
def test_a_macro_means_its_five_fields_everywhere(macro: str) -> None:
    fields = CRON_MACROS[macro]
    assert cron_problem(macro) is None
    assert cron_problem(fields) is None and len(fields.split()) == 5
    assert cron_fields(f" {macro} ") == fields
    assert kfp_cron(macro) == kfp_cron(fields) == f"0 {fields}"
    assert cron_period_seconds(macro) == cron_period_seconds(fields)
    assert cron_period_seconds(macro) == PERIOD_HOURS[macro] * 3600


def test_an_expression_passes_through() -> None:
    assert cron_fields(" 0 3 * * 1 ") == "0 3 * * 1"
    assert kfp_cron("*/15 * * * *") == "0 */15 * * * *"
    assert cron_problem("@fortnightly") is not None
