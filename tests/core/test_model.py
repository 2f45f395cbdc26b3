"""The status model: parsing, canonical names, severity and emoji."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.errors import UnknownNameError
from bot.model import (
    DomainRecord,
    HistoryEntry,
    JobRef,
    Status,
    format_time,
    most_severe,
    utcnow,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ok", Status.OK),
        ("Ok", Status.OK),
        ("OK", Status.OK),
        (" loading ", Status.LOADING),
        ("WARNING", Status.WARNING),
        ("error", Status.ERROR),
        ("pEnDiNg", Status.PENDING),
    ],
)
def test_it_parses_statuses_case_insensitively(text: str, expected: Status) -> None:
    """Any spelling of a status parses to its canonical value."""
    assert Status.parse(text) is expected
    assert str(Status.parse(text)) == expected.value


def test_it_names_the_valid_statuses_and_the_closest_one() -> None:
    """An unknown status names every valid status and suggests the closest."""
    with pytest.raises(UnknownNameError) as caught:
        Status.parse("Errr")
    assert str(caught.value) == (
        "Unknown status 'Errr'. Valid: Pending, Loading, OK, Warning, Error. Did you mean Error?"
    )
    assert caught.value.code == "INVALID_STATUS"


def test_it_suggests_a_status_only_when_one_is_close() -> None:
    """A name far from every status gets the list only; a close one also the suggestion."""
    with pytest.raises(UnknownNameError) as caught:
        Status.parse("done")
    assert caught.value.suggestion is None
    assert str(caught.value) == (
        "Unknown status 'done'. Valid: Pending, Loading, OK, Warning, Error."
    )
    with pytest.raises(UnknownNameError) as loading:
        Status.parse("load")
    assert loading.value.suggestion == "Loading"


def test_it_orders_severity_error_warning_loading_pending_ok() -> None:
    """Roll-ups pick Error over Warning over Loading over Pending over OK."""
    ordered = sorted(Status, key=lambda s: s.severity, reverse=True)
    assert ordered == [Status.ERROR, Status.WARNING, Status.LOADING, Status.PENDING, Status.OK]
    assert most_severe([Status.OK, Status.WARNING, Status.LOADING]) is Status.WARNING
    assert most_severe([]) is Status.OK


def test_it_gives_each_status_its_emoji() -> None:
    """Each status has the emoji SPEC §2 names."""
    assert {s.value: s.emoji for s in Status} == {
        "OK": ":large_green_circle:",
        "Loading": ":large_blue_circle:",
        "Warning": ":large_yellow_circle:",
        "Error": ":red_circle:",
        "Pending": ":white_circle:",
    }


def test_it_serialises_times_as_utc_with_z() -> None:
    """Records carry updated_at as ISO 8601 UTC ending in Z."""
    now = utcnow()
    record = DomainRecord(app="Planning", domain="Actuals", updated_at=now, since=now)
    dumped = record.to_json()
    assert dumped["updated_at"] == format_time(now)
    assert dumped["updated_at"].endswith("Z")
    assert DomainRecord.from_json(dumped).updated_at == now.replace(microsecond=0)


def test_a_record_round_trips_through_its_stored_form() -> None:
    """Every field, tracked jobs included, survives to_json -> from_json."""
    at = datetime(2026, 11, 30, 9, 15, 7, tzinfo=UTC)
    record = DomainRecord(
        app="FCCS",
        domain="Consolidation",
        status=Status.LOADING,
        message="run 3 of 4",
        updated_at=at,
        updated_by="api:gl",
        jobs=(JobRef(server="epm1", job_id="42"),),
        since=at,
    )
    assert DomainRecord.from_json(record.to_json()) == record
    entry = HistoryEntry("FCCS", "Consolidation", None, Status.OK, "api:gl", at, "done")
    assert HistoryEntry.from_json({**entry.to_json(), "version": 9}) == entry


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ([], "a record must be an object, not list"),
        ({"app": "Planning"}, "record field domain is missing"),
        ({"app": "Planning", "domain": "Actuals", "colour": "red"}, "colour is not known"),
        ({"app": "Planning", "domain": "Actuals", "status": "Done"}, "'Done' is not a status"),
        ({"app": "Planning", "domain": "Actuals", "status": 1}, "1 is not a status"),
        ({"app": "Planning", "domain": "Actuals", "message": 7}, "message must be a string"),
        ({"app": "Planning", "domain": "Actuals", "updated_at": "soon"}, "soon"),
        ({"app": "Planning", "domain": "Actuals", "since": "2026-11-30T09:00:00"}, "no UTC offset"),
        ({"app": "Planning", "domain": "Actuals", "jobs": {}}, "jobs must be a list"),
        ({"app": "Planning", "domain": "Actuals", "jobs": [{"server": "epm1"}]}, "job_id"),
    ],
)
def test_a_stored_record_that_is_not_one_is_refused_with_its_problem(
    stored: object, problem: str
) -> None:
    """from_json checks what the store hands back and names the first problem."""
    with pytest.raises(ValueError, match=re.escape(problem)):
        DomainRecord.from_json(stored)
