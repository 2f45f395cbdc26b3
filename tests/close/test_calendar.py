"""The pure close calendar: working days, WD-n deadlines, working-day numbers, waits."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from bot.close.calendar import CloseCalendar, Deadline
from bot.model import Status

ACTUALS = ("Planning", "Actuals")
CONSOLIDATION = ("FCCS", "Consolidation")


def calendar(**kwargs: object) -> CloseCalendar:
    """A calendar with one deadline on Planning/Actuals (WD2 12:00 unless given)."""
    rule = kwargs.pop("rule", Deadline(2, time(12, 0)))
    return CloseCalendar(deadlines={ACTUALS: rule}, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "year", "month", "first", "count"),
    [
        # December 2026 starts on a Tuesday: 23 weekdays.
        ({}, 2026, 12, date(2026, 12, 1), 23),
        # England: Christmas, Boxing Day (observed on the 28th) and an extra closed date.
        (
            {"country": "GB", "subdivision": "ENG", "extra_holidays": [date(2026, 12, 24)]},
            2026,
            12,
            date(2026, 12, 1),
            20,
        ),
        # January 2027 in the US: the 1st is New Year's Day, the 18th MLK Day.
        ({"country": "US"}, 2027, 1, date(2027, 1, 4), 19),
        # No weekend: every day of February 2027 is a working day.
        ({"weekend": []}, 2027, 2, date(2027, 2, 1), 28),
        # A Friday/Saturday weekend: 1 Jan 2027 is a Friday, so the 3rd (Sunday) is first.
        ({"weekend": ["Friday", "Saturday"]}, 2027, 1, date(2027, 1, 3), 21),
    ],
)
def test_working_days_skip_weekends_and_holidays(
    kwargs: dict[str, object], year: int, month: int, first: date, count: int
) -> None:
    """A month's working days leave out the configured weekend, public and extra holidays."""
    days = calendar(**kwargs).working_days(year, month)
    assert days[0] == first
    assert len(days) == count


@pytest.mark.parametrize(
    ("kwargs", "period", "expected"),
    [
        # November's close runs in December 2026: WD2 is Wed 2 Dec, 12:00 GMT.
        ({"timezone": "Europe/London"}, "2026-11", datetime(2026, 12, 2, 12, 0, tzinfo=UTC)),
        # Year end: the close of 2026-12 runs in January 2027; New Year's Day is a holiday
        # in GB, so WD1 is Mon 4 Jan and WD2 Tue 5 Jan.
        (
            {"timezone": "Europe/London", "country": "GB"},
            "2026-12",
            datetime(2027, 1, 5, 12, 0, tzinfo=UTC),
        ),
        # Summer time: the close of 2026-06 runs in July; 12:00 BST is 11:00 UTC.
        ({"timezone": "Europe/London"}, "2026-06", datetime(2026, 7, 2, 11, 0, tzinfo=UTC)),
        # New York in November (EST, after the DST change on 1 Nov 2026): 17:00 UTC.
        ({"timezone": "America/New_York"}, "2026-10", datetime(2026, 11, 3, 17, 0, tzinfo=UTC)),
        # Friday/Saturday weekend: 1 Jan 2027 is a Friday, WD2 is Monday 4 Jan.
        ({"weekend": ["Friday", "Saturday"]}, "2026-12", datetime(2027, 1, 4, 12, 0, tzinfo=UTC)),
    ],
)
def test_due_at_is_the_nth_working_day_at_local_time(
    kwargs: dict[str, object], period: str, expected: datetime
) -> None:
    """due_at turns WD<n> HH:MM into the UTC instant of that close month's working day."""
    assert calendar(**kwargs).due_at(period, ACTUALS) == expected


def test_a_deadline_in_a_dst_gap_lands_just_after_the_change() -> None:
    """01:30 on the day London's clocks spring forward (29 Mar 2026) is 01:30 UTC = 02:30 BST."""
    cal = calendar(timezone="Europe/London", weekend=[], rule=Deadline(29, time(1, 30)))
    due = cal.due_at("2026-02", ACTUALS)
    assert due == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert cal.local(due).strftime("%H:%M %Z") == "02:30 BST"


def test_a_month_short_of_working_days_takes_its_last_one() -> None:
    """WD23 in February 2027 (20 weekdays) falls on the last working day, Friday 26th."""
    cal = calendar(rule=Deadline(23, time(9, 0)))
    assert cal.due_at("2027-01", ACTUALS) == datetime(2027, 2, 26, 9, 0, tzinfo=UTC)


def test_a_domain_without_a_deadline_has_no_due_time() -> None:
    """due_at is None for a domain with no configured deadline."""
    assert calendar().due_at("2026-11", CONSOLIDATION) is None


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), 1),  # Tue 1 Dec, midnight: WD1 has begun
        (datetime(2026, 12, 4, 18, 0, tzinfo=UTC), 4),  # Fri 4 Dec
        (datetime(2026, 12, 6, 12, 0, tzinfo=UTC), 4),  # Sunday: still four working days
        (datetime(2026, 12, 7, 0, 0, tzinfo=UTC), 5),  # Monday 00:00: WD5 begins
        (datetime(2027, 1, 1, 12, 0, tzinfo=UTC), 0),  # New Year's Day (GB): none yet
    ],
)
def test_the_working_day_number_counts_days_that_have_begun(
    instant: datetime, expected: int
) -> None:
    """working_day_number is how many working days of the local month have begun."""
    assert calendar(country="GB").working_day_number(instant) == expected


def test_the_working_day_number_uses_the_close_timezone() -> None:
    """23:30 UTC on Mon 30 Nov is already Tue 1 Dec in Tokyo, WD1 of December's close."""
    cal = calendar(timezone="Asia/Tokyo")
    instant = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
    assert cal.period_at(instant) == "2026-11"
    assert cal.working_day_number(instant) == 1


def test_waiting_on_names_upstream_domains_not_yet_ok() -> None:
    """A domain waits on each upstream domain until that one is OK."""
    cal = CloseCalendar(depends_on={CONSOLIDATION: [ACTUALS, ("FCCS", "Actuals")]})
    statuses = {ACTUALS: Status.OK, ("FCCS", "Actuals"): Status.LOADING}
    assert cal.waiting_on(CONSOLIDATION, statuses) == ["FCCS/Actuals"]
    assert cal.waiting_on(ACTUALS, statuses) == []


def test_the_next_close_starts_at_local_midnight_on_the_first() -> None:
    """next_close_start is 00:00 on the next 1st in the close timezone, in UTC."""
    cal = calendar(timezone="Europe/London")
    after = cal.next_close_start(datetime(2026, 6, 15, tzinfo=UTC))
    assert after == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)


def test_holidays_known_in_advance_are_used_and_other_years_are_asked_for() -> None:
    """A year given in ``known_holidays`` is taken as given (no package lookup); any other
    year comes from the ``holidays`` package."""
    cal = CloseCalendar(country="GB", subdivision="ENG", known_holidays={2026: [date(2026, 12, 1)]})
    assert not cal.is_working_day(date(2026, 12, 1))  # given: a Tuesday, closed
    assert cal.is_working_day(date(2026, 12, 25))  # not given for 2026, so open
    assert not cal.is_working_day(date(2027, 12, 27))  # 2027: from the package (observed)
