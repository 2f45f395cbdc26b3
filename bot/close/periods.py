"""Close periods: which month is being closed, when its close begins, EPM's name for it.

The close of period ``YYYY-MM`` runs during the following month: on any day of
December 2026, period ``2026-11`` is being closed. Pure functions, no clock.

A job parameter names the close period with a token (SPEC §16): ``$PERIOD`` is EPM's
``Mmm-YY`` name (``Oct-26``); ``${PERIOD:FORMAT}`` formats the period's month with
strftime's month and year codes (``${PERIOD:%b}`` is ``Oct``, ``FY${PERIOD:%y}`` is
``FY26``), always in English, as EPM member names are.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTH_NAMES = (  # English, whatever the locale (EPM's member names are)
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# ``$PERIOD`` or ``${PERIOD:FORMAT}``; ``${PERIOD}`` stays an environment reference (SPEC §3).
_TOKEN = re.compile(r"\$\{PERIOD:([^}]*)\}|\$PERIOD")
_UNCLOSED = "${PERIOD:"
_CODE = re.compile(r"%(.?)", re.DOTALL)
# The strftime codes a month has, with what each gives for October 2026. Day and time
# codes would only ever give "01" or "00"; strftime itself would follow the locale.
PERIOD_CODES = {"b": "Oct", "B": "October", "m": "10", "y": "26", "Y": "2026"}
_CODES_HELP = ", ".join(f"%{code} ({example})" for code, example in PERIOD_CODES.items())


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


def format_month(period: str, fmt: str) -> str:
    """``period``'s month in ``fmt``'s strftime month and year codes: ``%b`` -> ``Oct``.

    ValueError (saying which codes there are) when ``fmt`` uses any other code.
    """
    problem = period_format_problem(fmt)
    if problem is not None:
        raise ValueError(problem)
    year, month = parse_period(period)
    values = {
        "b": _MONTHS[month - 1],
        "B": MONTH_NAMES[month - 1],
        "m": f"{month:02d}",
        "y": f"{year % 100:02d}",
        "Y": f"{year:04d}",
        "%": "%",
    }
    return _CODE.sub(lambda code: values[code.group(1)], fmt)


def period_format_problem(fmt: str) -> str | None:
    """Why ``fmt`` cannot format a period's month, or None when it can."""
    codes = _CODE.findall(fmt)
    for code in codes:
        if code == "":
            return f"'{fmt}' ends in a lone %; write %% for a percent sign"
        if code != "%" and code not in PERIOD_CODES:
            return f"%{code} is not a month or year code; use {_CODES_HELP} or %% for a %"
    if not any(code in PERIOD_CODES for code in codes):
        return f"'{fmt}' names no part of the period; use {_CODES_HELP}"
    return None


def expand_period_tokens(text: str, period: str) -> str:
    """``text`` with ``$PERIOD`` as ``Oct-26`` and ``${PERIOD:FORMAT}`` formatted for ``period``.

    ValueError for a token whose format :func:`period_format_problem` refuses.
    """

    def replace(token: re.Match[str]) -> str:
        fmt = token.group(1)
        return epm_period_name(period) if fmt is None else format_month(period, fmt)

    return _TOKEN.sub(replace, text)


def period_token_problems(text: str) -> list[str]:
    """What is wrong with the period tokens in ``text``, one sentence each (none: valid)."""
    problems = []
    for token in _TOKEN.finditer(text):
        fmt = token.group(1)
        problem = None if fmt is None else period_format_problem(fmt)
        if problem is not None:
            problems.append(f"{token.group(0)}: {problem}")
    if _UNCLOSED in _TOKEN.sub("", text):
        problems.append(f"'{_UNCLOSED}' has no closing }}, e.g. ${{PERIOD:%b}}")
    return problems


def without_period_tokens(text: str, stand_in: str = "P") -> str:
    """``text`` with each period token replaced by ``stand_in`` (to check what surrounds them)."""
    return _TOKEN.sub(stand_in, text)
