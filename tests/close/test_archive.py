"""Reading a close archive: the one lookup the CLI, Slack and the REST API share."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.close.archive import (
    archive_key,
    archive_outcome,
    archived_time,
    find_archive,
    no_archive_error,
)
from bot.errors import ValidationError

ARCHIVE = {
    "period": "2026-10",
    "domains": [
        {"app": "FCCS", "domain": "Actuals", "status": "OK", "late": False},
        {"app": "FCCS", "domain": "Consolidation", "status": "OK", "late": True},
        {"app": "Planning", "domain": "Forecast", "status": "Error", "late": True},
        "not a domain",
    ],
}


def test_a_period_is_found_under_its_canonical_name() -> None:
    """`` 2026-09 `` as typed names the archive kept as ``2026-09``."""
    meta = {archive_key("2026-09"): ARCHIVE}
    assert find_archive(meta, " 2026-09 ") == ("2026-09", ARCHIVE)


def test_a_period_never_archived_is_found_as_none() -> None:
    """The canonical name comes back with no archive."""
    assert find_archive({}, "2026-11") == ("2026-11", None)


def test_a_malformed_period_is_a_validation_error() -> None:
    """Not ``YYYY-MM``: refused, not looked up."""
    with pytest.raises(ValidationError):
        find_archive({}, "October")


def test_the_refusal_names_the_archived_periods_and_the_running_close() -> None:
    """The message lists what can be asked for instead."""
    meta = {archive_key("2026-09"): ARCHIVE, archive_key("2026-08"): ARCHIVE}
    error = no_archive_error(meta, "2026-07", "2026-11")
    assert str(error) == (
        "The close of 2026-07 has no archive. Archived: 2026-08, 2026-09; "
        "the close running now is 2026-11."
    )
    assert "none yet" in str(no_archive_error({}, "2026-07", "2026-11"))


def test_the_outcome_counts_ok_domains_and_lists_the_late_ones() -> None:
    """Entries that are not domains are left out of every count."""
    ok, total, late = archive_outcome(ARCHIVE)
    assert (ok, total) == (2, 3)
    assert [d["domain"] for d in late] == ["Consolidation", "Forecast"]


def test_archived_times_are_read_and_unreadable_ones_are_none() -> None:
    """An archive written by hand must not break the close views."""
    assert archived_time("2026-11-02T12:00:00Z") == datetime(2026, 11, 2, 12, tzinfo=UTC)
    assert archived_time("yesterday") is None
    assert archived_time(None) is None
