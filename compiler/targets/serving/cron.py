"""The longest gap between two runs of a cron schedule: how stale a drift job may get
before ModelDriftJobStale fires."""

from __future__ import annotations

import functools
import itertools
from datetime import date, timedelta

from compiler.spec.types import CRON_FIELDS, cron_fields

_FIELDS = tuple((low, high, names) for _, low, high, names in CRON_FIELDS)
_HORIZON_DAYS = 8 * 366  # two leap cycles: every schedule repeats within it


def _cron_values(text: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            first, last = low, high
        else:
            bounds = [names[b.lower()] if b.lower() in names else int(b) for b in base.split("-")]
            first = bounds[0]
            last = bounds[-1] if len(bounds) == 2 else (high if step else first)
        values.update(range(first, last + 1, int(step) if step else 1))
    return values


@functools.cache
def cron_period_seconds(schedule: str) -> int:
    """The longest gap between two consecutive runs of a (validated) five-field schedule."""
    fields = cron_fields(schedule).split()
    minutes, hours, days, months, weekdays = (
        _cron_values(text, *spec) for text, spec in zip(fields, _FIELDS, strict=True)
    )
    weekdays = {d % 7 for d in weekdays}
    times = sorted(h * 60 + m for h in hours for m in minutes)
    day_any, weekday_any = fields[2].startswith("*"), fields[4].startswith("*")
    start = date(2024, 1, 1)
    run_days: list[int] = []
    for n in range(_HORIZON_DAYS):
        day = start + timedelta(days=n)
        by_day, by_weekday = day.day in days, (day.isoweekday() % 7) in weekdays
        # cron: when both day fields are restricted a day matches either; else both must
        either = not (day_any or weekday_any)
        matches = (by_day or by_weekday) if either else (by_day and by_weekday)
        if day.month in months and matches:
            run_days.append(n)
    if not times or len(run_days) < 2:
        return _HORIZON_DAYS * 86400
    gap = max((b - a for a, b in itertools.pairwise(times)), default=0)
    for a, b in itertools.pairwise(run_days):
        gap = max(gap, (b - a) * 1440 + times[0] - times[-1])
    return gap * 60
