"""The close calendar as a pure model: working days, deadlines and dependencies.

Dates in, dates out: nothing here reads a clock, a file or the network. Given the
``close:`` section and an instant, a :class:`CloseCalendar` answers which period is
being closed, which working day of the close month it is, when each domain is due
and which upstream domains a domain still waits on.

A deadline ``WD<n> HH:MM`` is the n-th working day of the close month at that local
time. A month with fewer working days than ``n`` (holidays) takes its last working
day. A local time that does not exist (a DST gap) is read with the offset before
the change, so it lands just after the gap.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from bot.close import periods
from bot.close.rules import WEEKDAYS, CloseRules, parse_deadline
from bot.model import RecordKey


def key_name(key: RecordKey) -> str:
    """``("Planning", "Actuals")`` -> ``Planning/Actuals``."""
    return f"{key[0]}/{key[1]}"


class Deadline(NamedTuple):
    """A deadline rule: the ``day``-th working day of the close month at ``at`` local time."""

    day: int
    at: time

    @property
    def label(self) -> str:
        """``WD2 12:00``."""
        return f"WD{self.day} {self.at.strftime('%H:%M')}"


def public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """A country's (or subdivision's) public holidays in ``year``, from ``holidays``."""
    import holidays  # loaded only by calendars that name a country (about 150 ms)

    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


class CloseCalendar:
    """Working days, deadlines and dependencies of the monthly close."""

    def __init__(
        self,
        *,
        timezone: str = "UTC",
        weekend: Iterable[str] = ("Saturday", "Sunday"),
        country: str | None = None,
        subdivision: str | None = None,
        extra_holidays: Iterable[date] = (),
        deadlines: Mapping[RecordKey, Deadline] | None = None,
        depends_on: Mapping[RecordKey, Sequence[RecordKey]] | None = None,
        known_holidays: Mapping[int, Iterable[date]] | None = None,
    ) -> None:
        """``known_holidays``: the country's public holidays of some years, worked out in
        advance; other years are asked of the ``holidays`` package when needed."""
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.weekend = frozenset(WEEKDAYS.index(d) for d in weekend)
        self._country = country
        self._subdivision = subdivision
        self._extra = frozenset(extra_holidays)
        self.deadlines: dict[RecordKey, Deadline] = dict(deadlines or {})
        self.depends_on: dict[RecordKey, tuple[RecordKey, ...]] = {
            k: tuple(v) for k, v in (depends_on or {}).items()
        }
        self._holiday_years: dict[int, frozenset[date]] = {
            year: frozenset(days) for year, days in (known_holidays or {}).items()
        }
        self._working_days = lru_cache(maxsize=64)(self._compute_working_days)

    @classmethod
    def from_config(
        cls, close: CloseRules | None, apps: Mapping[str, Sequence[str]], canvas_tz: str
    ) -> CloseCalendar:
        """The calendar of a validated ``close:`` section (None: no deadlines, Mon-Fri)."""
        if close is None:
            return cls(timezone=canvas_tz)
        names = {f"{a}/{d}".lower(): (a, d) for a, domains in apps.items() for d in domains}

        def key(name: str) -> RecordKey:
            return names[name.strip().lower()]

        deadlines = {key(n): Deadline(*parse_deadline(t)) for n, t in close.deadlines.items()}
        depends = {key(n): [key(u) for u in up] for n, up in close.depends_on.items()}
        return cls(
            timezone=close.timezone or canvas_tz,
            weekend=close.weekend,
            country=close.country,
            subdivision=close.subdivision,
            extra_holidays=close.extra_holidays,
            deadlines=deadlines,
            depends_on=depends,
            known_holidays=close.known_holidays,
        )

    # --- days -------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """Not a weekend day, not a public holiday, not an extra closed date."""
        if day.weekday() in self.weekend or day in self._extra:
            return False
        return day not in self._holidays(day.year)

    def working_days(self, year: int, month: int) -> tuple[date, ...]:
        """Every working day of a month, in order."""
        return self._working_days(year, month)

    def _compute_working_days(self, year: int, month: int) -> tuple[date, ...]:
        day = date(year, month, 1)
        found = []
        while day.month == month:
            if self.is_working_day(day):
                found.append(day)
            day += timedelta(days=1)
        return tuple(found)

    def _holidays(self, year: int) -> frozenset[date]:
        if self._country is None:
            return frozenset()
        if year not in self._holiday_years:
            self._holiday_years[year] = public_holidays(self._country, self._subdivision, year)
        return self._holiday_years[year]

    # --- the close ----------------------------------------------------------------------

    def period_at(self, instant: datetime) -> str:
        """The period being closed at ``instant`` (the month before the local month)."""
        return periods.period_at(instant, self.zone)

    def close_start(self, period: str) -> datetime:
        """When the close of ``period`` begins (UTC)."""
        return periods.close_start(period, self.zone)

    def close_end(self, period: str) -> datetime:
        """When the close of ``period`` ends, i.e. the next one begins (UTC)."""
        return periods.close_end(period, self.zone)

    def working_day_number(self, instant: datetime) -> int:
        """How many working days of the close month have begun at ``instant``."""
        local = instant.astimezone(self.zone).date()
        days = self.working_days(local.year, local.month)
        return bisect.bisect_right(days, local)

    def working_day_date(self, period: str, day: int) -> date:
        """The date of working day ``day`` of ``period``'s close month (last one if fewer)."""
        year, month = periods.close_month(period)
        days = self.working_days(year, month)
        if not days:  # only possible when holidays cover a whole month
            return date(year, month, 1)
        return days[min(day, len(days)) - 1]

    def deadline(self, key: RecordKey) -> Deadline | None:
        """The deadline rule of one domain, or None."""
        return self.deadlines.get(key)

    def due_at(self, period: str, key: RecordKey) -> datetime | None:
        """When ``key`` is due in the close of ``period`` (UTC), or None without a deadline."""
        rule = self.deadlines.get(key)
        if rule is None:
            return None
        return self.due_for(period, rule)

    def due_for(self, period: str, rule: Deadline) -> datetime:
        """The UTC instant of ``rule`` in the close of ``period``."""
        day = self.working_day_date(period, rule.day)
        return datetime.combine(day, rule.at, tzinfo=self.zone).astimezone(UTC)

    def local(self, instant: datetime) -> datetime:
        """``instant`` in the close timezone."""
        return instant.astimezone(self.zone)

    def upstream(self, key: RecordKey) -> tuple[RecordKey, ...]:
        """The domains ``key`` waits for."""
        return self.depends_on.get(key, ())

    def waiting_on(self, key: RecordKey, statuses: Mapping[RecordKey, Any]) -> list[str]:
        """``APP/DOMAIN`` of each upstream domain whose status (``statuses``) is not OK."""
        return [key_name(up) for up in self.upstream(key) if str(statuses.get(up, "")) != "OK"]

    def next_close_start(self, instant: datetime) -> datetime:
        """When the next close begins after ``instant`` (UTC)."""
        return self.close_end(self.period_at(instant))
