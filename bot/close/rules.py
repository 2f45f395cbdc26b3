"""The ``close:`` section as plain data, and the deadline syntax (SPEC §11).

:class:`~bot.close.config.CloseSection` validates the YAML with pydantic and hands its
values over as :class:`CloseRules`, plain data the calendar reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, time
from types import MappingProxyType
from typing import NamedTuple

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEADLINE_PATTERN = re.compile(r"^\s*WD(\d+)\s+(\d{1,2}):(\d{2})\s*$", re.IGNORECASE)


def parse_deadline(text: str) -> tuple[int, time]:
    """``"WD2 12:00"`` -> ``(2, time(12, 0))``; ValueError says what is wrong."""
    match = DEADLINE_PATTERN.match(text)
    if not match:
        raise ValueError(f"deadline '{text}' is not 'WD<n> HH:MM', e.g. 'WD2 12:00'")
    day, hour, minute = (int(g) for g in match.groups())
    if day < 1:
        raise ValueError(f"deadline '{text}': working days count from WD1")
    if hour > 23 or minute > 59:
        raise ValueError(f"deadline '{text}': {hour:02d}:{minute:02d} is not a time of day")
    return day, time(hour, minute)


class SignOffRules(NamedTuple):
    """Four-eyes sign-off (SPEC §18): which domains need approval, and who approves.

    ``domains`` holds canonical ``APP/DOMAIN`` names, or is None for every domain;
    ``approvers`` are Slack user (``U…``/``W…``) and usergroup (``S…``) ids.
    """

    domains: tuple[str, ...] | None
    approvers: tuple[str, ...]

    def applies(self, app: str, domain: str) -> bool:
        """Whether a change to OK of ``app``/``domain`` needs approval."""
        if self.domains is None:
            return True
        name = f"{app}/{domain}".lower()
        return any(d.strip().lower() == name for d in self.domains)


class CloseRules(NamedTuple):
    """A validated ``close:`` section: where working days are counted, deadlines, waits."""

    timezone: str | None = None
    weekend: tuple[str, ...] = ("Saturday", "Sunday")
    country: str | None = None
    subdivision: str | None = None
    extra_holidays: tuple[date, ...] = ()
    reset: bool = False
    # "APP/DOMAIN" (as written in the YAML file) -> "WD2 12:00"
    deadlines: Mapping[str, str] = MappingProxyType({})
    # "APP/DOMAIN" -> the "APP/DOMAIN" names it waits on
    depends_on: Mapping[str, tuple[str, ...]] = MappingProxyType({})
    # The country's public holidays of some years, worked out in advance (the one-shot
    # commands keep them, bot.close.holiday_cache); the calendar asks `holidays` for any
    # other year.
    known_holidays: Mapping[int, tuple[date, ...]] = MappingProxyType({})
    sign_off: SignOffRules | None = None
