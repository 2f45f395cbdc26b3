"""The report model and its words: start of the close, time to OK, trend, text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.close.archive import archive_key
from bot.errors import ValidationError
from bot.report.model import NoArchiveError, build_report, report_timezone
from bot.report.samples import sample_archives
from bot.report.summary import alt_text, duration, headline, row_line, summary_lines
from tests.conftest import MakeConfig
from tests.report.archives import domain, october, simple

UTC_ZONE = ZoneInfo("UTC")


def meta_of(*archives: dict) -> dict:
    """Store meta holding ``archives``."""
    return {archive_key(a["period"]): a for a in archives}


def test_the_default_period_is_the_last_archived_close() -> None:
    """Without a period the newest archive is reported."""
    meta = meta_of(simple("2026-08", [5]), october(), simple("2026-09", [7]))
    assert build_report(meta, None, UTC_ZONE).period == "2026-10"


def test_time_to_ok_counts_from_midnight_on_the_first_in_the_report_timezone() -> None:
    """In London (GMT in November) the close starts 00:00Z; in New York at 05:00Z."""
    meta = meta_of(october())
    london = build_report(meta, "2026-10", ZoneInfo("Europe/London"))
    actuals = next(r for r in london.rows if r.domain == "Actuals" and r.app == "Planning")
    assert london.start == datetime(2026, 11, 1, tzinfo=UTC)
    assert actuals.to_ok == timedelta(days=1, hours=15)
    new_york = build_report(meta, "2026-10", ZoneInfo("America/New_York"))
    actuals = next(r for r in new_york.rows if r.domain == "Actuals" and r.app == "Planning")
    assert actuals.to_ok == timedelta(days=1, hours=11)


def test_rows_keep_late_and_never_ok_apart() -> None:
    """Late, never-OK and on-time rows are told apart, slowest first with never-OK on top."""
    report = build_report(meta_of(october()), "2026-10", UTC_ZONE)
    assert report.ok_count == 4
    assert [r.label for r in report.late_rows] == ["Planning / Forecast"]
    assert {r.label for r in report.never_ok_rows} == {
        "FCCS / Consolidation",
        "ARCS / Reconciliation",
    }
    assert [r.label for r in report.slowest_first][2:4] == ["Planning / Forecast", "FCCS / Actuals"]


def test_a_late_row_says_how_long_past_its_deadline_it_became_ok() -> None:
    """OK 16 h 30 m after the deadline is late by that, not by its 3 d 9 h to OK."""
    report = build_report(meta_of(october()), "2026-10", UTC_ZONE)
    by_label = {r.label: r for r in report.rows}
    forecast = by_label["Planning / Forecast"]
    assert forecast.to_ok == timedelta(days=3, hours=9, minutes=30)
    assert forecast.late_by == timedelta(hours=16, minutes=30)
    assert by_label["Planning / Actuals"].late_by is None  # on time
    assert by_label["FCCS / Consolidation"].late_by is None  # never OK


def test_the_headline_counts_a_never_ok_row_once_as_the_legend_does() -> None:
    """A never-OK row past its deadline is "never OK", not also "late" (one late bar)."""
    archive = {
        "period": "2026-10",
        "domains": [
            domain("A", "OnTime", ok_at="2026-11-02T10:00:00Z", due_at="2026-11-03T12:00:00Z"),
            domain(
                "A", "Late", ok_at="2026-11-04T12:00:00Z", due_at="2026-11-04T10:00:00Z", late=True
            ),
            domain("A", "Never", ok_at=None, due_at="2026-11-04T10:00:00Z", late=True),
        ],
    }
    report = build_report(meta_of(archive), None, UTC_ZONE)
    assert headline(report).startswith("Close 2026-10: 2 of 3 OK, 1 late, 1 never OK;")
    assert [row_line(r) for r in report.slowest_first] == [
        "A / Never: never OK (ended Error) — *past its deadline*",
        "A / Late: 3d 12h — *2h 00m late*",
        "A / OnTime: 1d 10h",
    ]


def test_the_trend_covers_the_last_six_closes_up_to_the_period() -> None:
    """Seven archives before and one after: the trend holds the six ending at the period."""
    archives = [simple(f"2026-{m:02d}", [m, 2 * m, 10 * m]) for m in range(1, 10)]
    report = build_report(meta_of(*archives), "2026-08", UTC_ZONE)
    assert [p.period for p in report.trend] == [f"2026-{m:02d}" for m in range(3, 9)]
    last = report.trend[-1]
    assert last.median == timedelta(hours=16)
    assert last.worst == timedelta(hours=80)
    assert report.median == timedelta(hours=16)


def test_a_close_with_nothing_ok_has_no_median() -> None:
    """Only never-OK domains: the trend point has no median or worst, and counts them."""
    archive = {"period": "2026-10", "domains": october()["domains"][4:]}
    report = build_report(meta_of(archive), None, UTC_ZONE)
    assert report.trend[-1].median is None
    assert report.trend[-1].never_ok == 2
    assert "median time to OK never" in headline(report)


def test_an_unarchived_period_names_the_archived_ones() -> None:
    """The error lists every archived period, oldest first."""
    meta = meta_of(october(), simple("2026-09", [3]))
    with pytest.raises(NoArchiveError) as raised:
        build_report(meta, "2026-07", UTC_ZONE)
    assert str(raised.value) == "No archived close for 2026-07. Archived periods: 2026-09, 2026-10."


def test_no_archive_at_all_says_so() -> None:
    """With nothing archived, the default period fails with a clear message."""
    with pytest.raises(NoArchiveError, match="No close has been archived yet"):
        build_report({}, None, UTC_ZONE)


def test_a_malformed_period_is_a_validation_error_naming_the_form() -> None:
    """``2026-13`` or ``October`` is refused with the YYYY-MM form named."""
    for text in ("2026-13", "October"):
        with pytest.raises(ValidationError, match="use YYYY-MM"):
            build_report(meta_of(october()), text, UTC_ZONE)


def test_durations_read_in_days_hours_and_minutes() -> None:
    """Long durations in days and hours, short ones in hours and minutes."""
    assert duration(timedelta(days=2, hours=5, minutes=59)) == "2d 5h"
    assert duration(timedelta(hours=5, minutes=7)) == "5h 07m"
    assert duration(timedelta(minutes=45)) == "45m"
    assert duration(None) == "never"


def test_the_summary_puts_the_slowest_three_first_and_marks_late_ones() -> None:
    """Headline, the slowest three, then every domain slowest first with late ones marked."""
    lines = summary_lines(build_report(meta_of(october()), None, UTC_ZONE))
    assert lines[0] == "*Close 2026-10: 4 of 6 OK, 1 late, 2 never OK; median time to OK 2d 0h.*"
    assert lines[1] == (
        "Slowest: FCCS / Consolidation (never), ARCS / Reconciliation (never), "
        "Planning / Forecast (3d 9h)."
    )
    assert lines[3] == "• FCCS / Consolidation: never OK (ended Error) — *past its deadline*"
    assert lines[5] == "• Planning / Forecast: 3d 9h — *16h 30m late*"
    assert lines[-1] == "• Planning / Budget: 6h 00m"


def test_a_long_summary_is_cut_with_a_pointer_to_the_chart() -> None:
    """Over the limit, the text ends by saying how many more the chart shows."""
    archive = simple("2026-10", list(range(1, 41)))
    lines = summary_lines(build_report(meta_of(archive), None, UTC_ZONE), limit=25)
    assert lines[-1] == "… and 15 more on the chart."
    assert len(lines) == 3 + 25 + 1


def test_the_alt_text_describes_the_result_in_words_within_slacks_limit() -> None:
    """Alt text names the period, counts, slowest, late and never-OK domains and the trend."""
    meta = meta_of(simple("2026-09", [10, 20, 30]), october())
    text = alt_text(build_report(meta, None, UTC_ZONE))
    assert text.startswith("Timeline of the 2026-10 close")
    assert "4 of 6 OK, 1 late, 2 never OK" in text
    assert "Slowest to OK: Planning / Forecast 3d 9h" in text
    assert "Never OK: FCCS / Consolidation, ARCS / Reconciliation." in text
    assert "Trend over 2 closes: median time to OK from 20h 00m (2026-09) to 2d 0h" in text
    big = simple("2026-10", list(range(1, 400)))
    assert len(alt_text(build_report(meta_of(big), None, UTC_ZONE))) <= 1000


def test_the_report_timezone_is_the_canvas_timezone(make_config: MakeConfig) -> None:
    """One place decides the report's time zone: today the configured canvas timezone."""
    config = make_config("canvas: {timezone: Europe/Paris}\n")
    assert report_timezone(config.estate) == ZoneInfo("Europe/Paris")


def test_sample_archives_are_labelled_as_such_in_every_output() -> None:
    """The demo's synthetic archives say "sample" in the report, its text and its alt text."""
    archives = sample_archives([("Planning", "Actuals"), ("FCCS", "Consolidation")], "2026-10")
    assert all(a["sample"] is True for a in archives.values())
    assert list(archives) == ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    report = build_report(meta_of(*archives.values()), None, UTC_ZONE)
    assert report.sample
    assert summary_lines(report)[1] == "_Sample data, not a real close._"
    assert "Sample data, not a real close." in alt_text(report)
    assert not build_report(meta_of(october()), None, UTC_ZONE).sample
