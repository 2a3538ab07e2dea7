"""Small pieces of PromQL and of alert text, written the way people write them."""

from __future__ import annotations

from decimal import Decimal

from compiler.serving_metrics import le_text


def matchers(labels: dict[str, str]) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in labels.items())


def le_matcher(bound: Decimal) -> str:
    """The bucket matcher of a bound. Go clients expose a whole bound as 1, Python's
    prometheus_client as 1.0, and Prometheus 3 normalises both to 1.0 on ingestion, so a
    whole number matches either spelling; any other bound is matched exactly (0.25)."""
    text = le_text(bound)
    if "." in text:
        return f'le="{text}"'
    return f'le=~"{text}(\\\\.0+)?"'


def decimal(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def budget(objective_percent: float) -> Decimal:
    """1 - objective / 100 without binary noise: 99.9 → 0.001, not 0.000999…"""
    return (100 - decimal(objective_percent)) / 100


def num(value: float | Decimal) -> str:
    """A number as PromQL and people write it: 150, 0.001, 14.4."""
    if isinstance(value, Decimal):
        return le_text(value.normalize())
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def percent(ratio: float) -> str:
    return f"{num(decimal(ratio) * 100)}%"


def duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
