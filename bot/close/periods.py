"""Close periods: which month is being closed, when its close begins, EPM's name for it.

The close of period ``YYYY-MM`` runs during the following month: on any day of
December 2026, period ``2026-11`` is being closed. Pure functions, no clock.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def parse_period(text: str) -> tuple[int, int]:
    """Return ``(year, month)`` of a ``YYYY-MM`` period; ValueError names the form."""
    match = _PERIOD.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a period: use YYYY-MM, e.g. 2026-11")
    return int(match.group(1)), int(match.group(2))


def format_period(year: int, month: int) -> str:
    """``2026, 11`` -> ``2026-11``."""
    return f"{year:04d}-{month:02d}"


def shift(period: str, months: int) -> str:
    """The period ``months`` after (negative: before) ``period``."""
    year, month = parse_period(period)
    index = year * 12 + (month - 1) + months
    return format_period(index // 12, index % 12 + 1)


def close_month(period: str) -> tuple[int, int]:
    """``(year, month)`` in which the close of ``period`` runs (the month after it)."""
    return parse_period(shift(period, 1))


def period_at(instant: datetime, tz: ZoneInfo) -> str:
    """The period being closed at ``instant``: the month before the local month."""
    local = instant.astimezone(tz)
    return shift(format_period(local.year, local.month), -1)


def close_start(period: str, tz: ZoneInfo) -> datetime:
    """When the close of ``period`` begins: 00:00 local on the 1st of the month after, in UTC."""
    year, month = close_month(period)
    return datetime.combine(date(year, month, 1), time(0, 0), tzinfo=tz).astimezone(UTC)


def close_end(period: str, tz: ZoneInfo) -> datetime:
    """When the close of ``period`` ends: the start of the next period's close, in UTC."""
    return close_start(shift(period, 1), tz)


def epm_period_name(period: str) -> str:
    """EPM's ``Mmm-YY`` name of a period: ``2026-10`` -> ``Oct-26``."""
    year, month = parse_period(period)
    return f"{_MONTHS[month - 1]}-{year % 100:02d}"
