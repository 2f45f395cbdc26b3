"""Close periods: the month being closed, its start and EPM's name for it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.close import archive, periods

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("instant", "tz", "expected"),
    [
        (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), UTC, "2026-11"),
        (datetime(2026, 11, 30, 23, 59, tzinfo=UTC), UTC, "2026-10"),
        (datetime(2027, 1, 15, tzinfo=UTC), UTC, "2026-12"),
        # 23:30 UTC on 31 Oct is 00:30 on 1 Nov in Tokyo: November's close has begun.
        (datetime(2026, 10, 31, 23, 30, tzinfo=UTC), ZoneInfo("Asia/Tokyo"), "2026-10"),
    ],
)
def test_the_period_closed_is_the_month_before_the_local_month(
    instant: datetime, tz: ZoneInfo, expected: str
) -> None:
    """period_at counts months in the close timezone, across a year end."""
    assert periods.period_at(instant, tz) == expected


def test_a_close_starts_at_local_midnight_on_the_first_of_the_next_month() -> None:
    """close_start/close_end give the UTC instants of local midnight (BST/GMT aware)."""
    assert periods.close_start("2026-09", LONDON) == datetime(2026, 9, 30, 23, 0, tzinfo=UTC)
    assert periods.close_end("2026-09", LONDON) == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    assert periods.close_start("2026-12", UTC) == datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("period", "name"), [("2026-10", "Oct-26"), ("2030-01", "Jan-30")])
def test_epm_period_names_are_mmm_yy(period: str, name: str) -> None:
    """EPM's Mmm-YY form."""
    assert periods.epm_period_name(period) == name


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-10", "", "2026-00", "nov"])
def test_malformed_periods_are_refused_with_the_form(text: str) -> None:
    """A bad period names the YYYY-MM form."""
    with pytest.raises(ValueError, match="YYYY-MM"):
        periods.parse_period(text)


def test_archives_are_listed_oldest_first_and_read_by_period() -> None:
    """archive meta keys are found by prefix; an unknown period reads as None."""
    meta = {
        archive.archive_key("2026-10"): {"period": "2026-10", "domains": []},
        archive.archive_key("2026-09"): {"period": "2026-09", "domains": []},
        "canvas_id": "F1",
    }
    assert archive.archived_periods(meta) == ["2026-09", "2026-10"]
    assert archive.load_archive(meta, "2026-10") == {"period": "2026-10", "domains": []}
    assert archive.load_archive(meta, "2026-08") is None
