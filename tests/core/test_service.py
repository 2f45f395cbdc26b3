"""The status service: set, set_many, get, board, history and validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Config
from bot.errors import MessageTooLongError, UnknownNameError, ValidationError
from bot.model import JobRef, Status, Update
from bot.service import Change, StatusService
from bot.store import JsonStore


def test_it_sets_and_reads_a_status_with_canonical_names(service: StatusService) -> None:
    """A set with any casing is stored under canonical names and read back."""
    change = service.set("planning", "actuals", "ok", "Loaded from GL", by="slack:U1")
    assert (change.new.app, change.new.domain, change.new.status) == (
        "Planning",
        "Actuals",
        Status.OK,
    )
    record = service.get("PLANNING", "Actuals")
    assert record.status is Status.OK
    assert record.message == "Loaded from GL"
    assert record.updated_by == "slack:U1"
    assert record.updated_at is not None and record.since == record.updated_at


def test_it_shows_every_configured_domain_on_the_board(service: StatusService) -> None:
    """The board lists every app and domain in config order, Pending until set."""
    service.set("FCCS", "Consolidation", "Loading", by="api:ci")
    board = service.board()
    assert list(board) == ["Planning", "FCCS", "ARCS"]
    assert [(r.domain, r.status.value) for r in board["FCCS"]] == [
        ("Actuals", "Pending"),
        ("Consolidation", "Loading"),
    ]


def test_it_rejects_unknown_names_and_changes_nothing(service: StatusService) -> None:
    """Unknown app, domain or status raise with choices and leave the store untouched."""
    before = service.version
    with pytest.raises(UnknownNameError, match="Did you mean Actuals"):
        service.set("Planning", "Actual", "OK", by="slack:U1")
    with pytest.raises(UnknownNameError, match="Valid: Planning, FCCS, ARCS"):
        service.set("Plan", "Actuals", "OK", by="slack:U1")
    with pytest.raises(UnknownNameError, match="Valid: Pending, Loading, OK, Warning, Error"):
        service.set("Planning", "Actuals", "Done", by="slack:U1")
    assert service.version == before
    assert service.history("Planning", "Actuals") == []


def test_it_rejects_a_message_over_200_characters(service: StatusService) -> None:
    """A 201-character message is an error, not a silent cut; 200 is fine."""
    with pytest.raises(MessageTooLongError, match="201 characters; the limit is 200"):
        service.set("Planning", "Actuals", "OK", "x" * 201, by="slack:U1")
    assert service.set("Planning", "Actuals", "OK", "y" * 200, by="slack:U1").new.message == (
        "y" * 200
    )


def test_it_applies_a_batch_all_or_nothing(service: StatusService) -> None:
    """One bad item in a batch rejects the whole batch."""
    good = Update(app="Planning", domain="Actuals", status="OK")
    bad = Update(app="Planning", domain="Forecst", status="OK")
    with pytest.raises(UnknownNameError):
        service.set_many([good, bad], by="api:ci")
    assert service.get("Planning", "Actuals").status is Status.PENDING
    changes = service.set_many(
        [good, Update(app="ARCS", domain="Reconciliation", status="warning", message="3 open")],
        by="api:ci",
    )
    assert [c.new.status for c in changes] == [Status.OK, Status.WARNING]
    assert service.get("ARCS", "Reconciliation").message == "3 open"


def test_it_rejects_the_same_domain_twice_in_one_batch(service: StatusService) -> None:
    """A batch naming one domain twice is ambiguous and rejected."""
    twice = [
        Update(app="Planning", domain="Actuals", status="OK"),
        Update(app="planning", domain="ACTUALS", status="Error"),
    ]
    with pytest.raises(ValidationError, match="appears twice"):
        service.set_many(twice, by="api:ci")


def test_it_keeps_history_newest_first(service: StatusService) -> None:
    """History records old and new status, message, who and when."""
    service.set("Planning", "Actuals", "Loading", "started", by="epm:planning")
    service.set("Planning", "Actuals", "OK", "done", by="slack:U2")
    service.set("Planning", "Forecast", "Error", by="slack:U2")
    entries = service.history("planning", "actuals")
    assert [(e.old_status, e.new_status, e.message, e.by) for e in entries] == [
        (Status.LOADING, Status.OK, "done", "slack:U2"),
        (Status.PENDING, Status.LOADING, "started", "epm:planning"),
    ]
    assert len(service.history("Planning", "Actuals", limit=1)) == 1
    with pytest.raises(ValidationError):
        service.history("Planning", "Actuals", limit=0)


def test_it_keeps_since_while_the_status_stays(config: Config, store: JsonStore) -> None:
    """`since` marks when the current status began, not the last update."""
    times = iter(datetime(2026, 11, 25, 8, m, tzinfo=UTC) for m in range(10))
    service = StatusService(config.estate.layout, store, clock=lambda: next(times))
    service.set("Planning", "Actuals", "Loading", by="system")
    service.set("Planning", "Actuals", "Loading", "half way", by="system")
    record = service.get("Planning", "Actuals")
    assert record.since == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert record.updated_at == record.since + timedelta(minutes=1)
    service.set("Planning", "Actuals", "OK", by="system")
    assert service.get("Planning", "Actuals").since == datetime(2026, 11, 25, 8, 2, tzinfo=UTC)


def test_it_replaces_tracked_jobs_on_a_manual_set(make_config: object) -> None:
    """Setting a status by hand clears tracked jobs; jobs must name a configured server."""
    config = make_config(  # type: ignore[operator]
        "apps:\n  Planning: {domains: [Actuals], server: p}\n"
        "epm:\n  servers:\n    p: {kind: arcs, base_url: 'http://127.0.0.1:1',"
        " auth: {type: basic, username: u, password: pw}}\n"
    )
    store = JsonStore(config.settings.data_dir)
    service = StatusService(config.estate.layout, store)
    service.set(
        "Planning", "Actuals", "Loading", by="api:ci", jobs=[JobRef(server="P", job_id="7")]
    )
    assert service.get("Planning", "Actuals").jobs == (JobRef(server="p", job_id="7"),)
    service.set("Planning", "Actuals", "OK", by="slack:U1")
    assert service.get("Planning", "Actuals").jobs == ()
    with pytest.raises(UnknownNameError, match="Unknown EPM server 'q'"):
        service.set(
            "Planning", "Actuals", "Loading", by="api:ci", jobs=[JobRef(server="q", job_id="1")]
        )
    store.close()


def test_it_tells_listeners_after_the_change_is_durable(
    service: StatusService, config: Config
) -> None:
    """Listeners see each change once it is on disk; a failing listener undoes nothing."""
    seen: list[list[Change]] = []

    def on_disk(changes: list[Change]) -> None:
        fresh = StatusService(config.estate.layout, JsonStore(config.settings.data_dir))
        assert fresh.get("ARCS", "Reconciliation").status is Status.ERROR
        seen.append(changes)

    def broken(changes: list[Change]) -> None:
        raise RuntimeError("slack is down")

    service.add_listener(broken)
    service.add_listener(on_disk)
    change = service.set("ARCS", "Reconciliation", "Error", "2 breaks", by="slack:U1")
    assert change.status_changed
    assert seen == [[change]]
    assert service.get("ARCS", "Reconciliation").status is Status.ERROR


def test_it_stores_bookkeeping_values(service: StatusService, config: Config) -> None:
    """Meta values persist across service instances and bump the version."""
    before = service.version
    service.set_meta("canvas_id", "F123")
    assert service.meta("canvas_id") == "F123"
    assert service.version == before + 1
    assert service.meta("missing", "default") == "default"
    reopened = JsonStore(config.settings.data_dir)
    try:
        assert StatusService(config.estate.layout, reopened).meta("canvas_id") == "F123"
    finally:
        reopened.close()
