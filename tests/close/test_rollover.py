"""Roll-over: archives built from history, reset in one commit, catch-up after downtime."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from bot.close.archive import archived_periods, load_archive
from bot.close.calendar import CloseCalendar, Deadline
from bot.close.live import PERIOD_META
from bot.close.rollover import build_archives
from bot.model import JobRef, Status
from tests.close.conftest import DECEMBER_START, MakeClose

NOVEMBER = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # WD1 of the close of 2026-10
OCT_ACTUALS_DUE = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)  # WD2 of November, 12:00 GMT


def domain(archive: dict[str, object], app: str, name: str) -> dict[str, object]:
    """One domain's entry of an archive."""
    domains = archive["domains"]
    assert isinstance(domains, list)
    return next(d for d in domains if d["app"] == app and d["domain"] == name)


def test_a_new_close_archives_the_last_one_and_resets_in_one_commit(
    make_close: MakeClose,
) -> None:
    """At 00:00 on the 1st: archive from history, every domain Pending by system, jobs dropped."""
    close = make_close(now=NOVEMBER)
    close.part.start()
    service = close.service
    close.clock.now = NOVEMBER + timedelta(hours=1)
    service.set("Planning", "Actuals", "OK", by="system")  # on time (due 3 Nov 12:00)
    close.clock.now = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
    service.set("FCCS", "Consolidation", "Error", by="system")
    service.set("Planning", "Forecast", "Loading", by="system", jobs=[])
    close.clock.now = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)
    service.set("FCCS", "Actuals", "OK", by="system")  # no deadline: never late
    service.set("ARCS", "Reconciliation", "OK", by="system")

    close.clock.now = DECEMBER_START
    close.part.tick()

    archive = load_archive(service.store.snapshot().meta, "2026-10")
    assert archive is not None and archive["period"] == "2026-10"
    assert domain(archive, "Planning", "Actuals") == {
        "app": "Planning",
        "domain": "Actuals",
        "status": "OK",
        "due_at": "2026-11-03T12:00:00Z",
        "ok_at": "2026-11-02T10:00:00Z",
        "late": False,
    }
    consolidation = domain(archive, "FCCS", "Consolidation")
    assert consolidation["status"] == "Error" and consolidation["late"] is True
    assert consolidation["ok_at"] is None
    assert domain(archive, "FCCS", "Actuals")["late"] is False

    board = service.board()
    assert {r.status for records in board.values() for r in records} == {Status.PENDING}
    actuals = service.get("Planning", "Actuals")
    assert (actuals.updated_by, actuals.message) == ("system", "Close of 2026-11 begins")
    resets = [e for e in service.store.iter_history() if e["message"] == "Close of 2026-11 begins"]
    assert len(resets) == 6
    assert len({e["version"] for e in resets}) == 1  # one commit
    assert service.meta(PERIOD_META) == "2026-11"


def test_a_reset_drops_tracked_jobs(make_close: MakeClose) -> None:
    """A domain still following an EPM job stops following it at the new close."""
    close = make_close(
        now=NOVEMBER,
        yaml_text="""
apps:
  Planning: {domains: [Actuals], server: planning}
epm:
  servers:
    planning:
      kind: planning
      base_url: http://127.0.0.1:9
      application: Vision
      auth: {type: basic, username: u, password: p}
close: {reset: true}
""",
    )
    close.part.start()
    job = JobRef(server="planning", job_id="42")
    close.service.set("Planning", "Actuals", "Loading", by="system", jobs=[job])
    close.clock.now = DECEMBER_START
    close.part.tick()
    record = close.service.get("Planning", "Actuals")
    assert (record.status, record.jobs) == (Status.PENDING, ())


def test_without_reset_the_board_keeps_its_statuses(make_close: MakeClose) -> None:
    """With reset off the close is archived but nobody's status changes."""
    close = make_close(reset=False, now=NOVEMBER)
    close.part.start()
    close.service.set("Planning", "Actuals", "Warning", by="system")
    version_history = len(list(close.service.store.iter_history()))
    close.clock.now = DECEMBER_START + timedelta(hours=1)
    close.part.tick()
    assert close.service.get("Planning", "Actuals").status is Status.WARNING
    assert len(list(close.service.store.iter_history())) == version_history
    assert archived_periods(close.service.store.snapshot().meta) == ["2026-10"]


def test_a_start_after_downtime_archives_every_unarchived_close(make_close: MakeClose) -> None:
    """Changes in October's and November's closes, nothing ran since: both are archived."""
    close = make_close(reset=False, now=datetime(2026, 10, 5, 9, 0, tzinfo=UTC))
    close.service.set("Planning", "Actuals", "Error", by="system")
    close.clock.now = NOVEMBER
    close.service.set("Planning", "Actuals", "OK", by="system")
    close.clock.now = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
    close.part.start()
    meta = close.service.store.snapshot().meta
    assert archived_periods(meta) == ["2026-09", "2026-10"]
    september = load_archive(meta, "2026-09")
    assert september is not None
    assert domain(september, "Planning", "Actuals")["status"] == "Error"
    assert domain(september, "Planning", "Actuals")["late"] is True
    october = load_archive(meta, "2026-10")
    assert october is not None
    assert domain(october, "Planning", "Actuals")["ok_at"] == "2026-11-02T09:00:00Z"
    # A second start finds nothing more to archive and writes nothing.
    version = close.service.version
    again = close.restart()
    again.part.start()
    assert again.service.version == version


def test_changes_made_in_the_new_close_before_the_start_are_not_reset(
    make_close: MakeClose,
) -> None:
    """A status set in December before any instance ran belongs to December's close; the
    domains nobody touched since November are reset."""
    close = make_close(now=NOVEMBER)
    close.service.set("Planning", "Actuals", "OK", by="system")
    close.clock.now = DECEMBER_START + timedelta(hours=8)
    close.service.set("Planning", "Forecast", "OK", by="system")
    close.clock.now = DECEMBER_START + timedelta(hours=9)
    close.part.start()
    assert close.service.get("Planning", "Forecast").status is Status.OK
    actuals = close.service.get("Planning", "Actuals")
    assert (actuals.status, actuals.message) == (Status.PENDING, "Close of 2026-11 begins")
    assert archived_periods(close.service.store.snapshot().meta) == ["2026-10"]


def test_with_reset_an_ok_from_before_the_close_is_not_ok_from_its_start(
    make_close: MakeClose,
) -> None:
    """No instance ran on 1 November: Actuals, OK since October, is archived OK when it was
    set OK again (late), and Forecast, OK since October and never again, as never OK."""
    close = make_close(now=datetime(2026, 10, 20, 9, 0, tzinfo=UTC))
    close.service.set("Planning", "Actuals", "OK", by="system")
    close.service.set("Planning", "Forecast", "OK", by="system")
    close.clock.now = OCT_ACTUALS_DUE + timedelta(days=2)
    close.service.set("Planning", "Actuals", "OK", "reloaded", by="system")
    close.clock.now = DECEMBER_START + timedelta(hours=1)
    close.part.start()
    october = load_archive(close.service.store.snapshot().meta, "2026-10")
    assert october is not None
    actuals = domain(october, "Planning", "Actuals")
    assert (actuals["status"], actuals["ok_at"], actuals["late"]) == (
        "OK",
        "2026-11-05T12:00:00Z",
        True,
    )
    forecast = domain(october, "Planning", "Forecast")
    assert (forecast["status"], forecast["ok_at"]) == ("Pending", None)


def test_the_first_start_with_a_fresh_board_resets_nothing(make_close: MakeClose) -> None:
    """An empty board only gets the period marker: no history is written."""
    close = make_close()
    close.part.start()
    assert list(close.service.store.iter_history()) == []
    assert close.service.meta(PERIOD_META) == "2026-11"


def test_a_change_belongs_to_the_close_running_at_its_local_time() -> None:
    """23:00 UTC on 30 Sep is 00:00 BST on 1 Oct: the first change of 2026-09's close."""
    calendar = CloseCalendar(
        timezone="Europe/London", deadlines={("A", "X"): Deadline(1, time(9, 0))}
    )
    entries = [
        {
            "app": "A",
            "domain": "X",
            "old_status": "Pending",
            "new_status": "OK",
            "at": "2026-09-30T22:59:59Z",
        },
        {
            "app": "A",
            "domain": "X",
            "old_status": "OK",
            "new_status": "Error",
            "at": "2026-09-30T23:00:00Z",
        },
        {
            "app": "A",
            "domain": "X",
            "old_status": "Error",
            "new_status": "OK",
            "at": "2026-10-01T09:30:00Z",
        },
        {
            "app": "A",
            "domain": "X",
            "old_status": "OK",
            "new_status": "Loading",
            "at": "2026-11-02T08:00:00Z",
        },
    ]
    archives = build_archives(entries, calendar, [("A", "X")], "2026-10", skip={"2026-08"})
    assert list(archives) == ["2026-09"]
    # WD1 of October 2026 is Thu 1 Oct, 09:00 BST = 08:00 UTC; OK came at 09:30 UTC.
    assert archives["2026-09"]["domains"] == [
        {
            "app": "A",
            "domain": "X",
            "status": "OK",
            "due_at": "2026-10-01T08:00:00Z",
            "ok_at": "2026-10-01T09:30:00Z",
            "late": True,
        }
    ]


def test_with_reset_no_domain_enters_a_close_ok() -> None:
    """With reset, OK on 20 Oct does not carry into the close of 2026-10 (run in November)."""
    calendar = CloseCalendar(timezone="UTC", deadlines={("A", "X"): Deadline(1, time(9, 0))})
    entries = [
        {
            "app": "A",
            "domain": key,
            "old_status": "Pending",
            "new_status": "OK",
            "at": "2026-10-20T10:00:00Z",
        }
        for key in ("X", "Y")
    ] + [
        {
            "app": "A",
            "domain": "Y",
            "old_status": "OK",
            "new_status": "OK",
            "at": "2026-11-03T10:00:00Z",
        },
    ]
    keys = [("A", "X"), ("A", "Y")]
    archives = build_archives(entries, calendar, keys, "2026-11", set(), reset=True)
    [x, y] = archives["2026-10"]["domains"]
    assert (x["status"], x["ok_at"], x["late"]) == ("Pending", None, True)
    assert (y["status"], y["ok_at"], y["late"]) == ("OK", "2026-11-03T10:00:00Z", False)


def test_a_domain_already_ok_when_its_close_begins_is_ok_from_the_start() -> None:
    """Without reset, a domain OK before the close began is archived OK at the close's start."""
    calendar = CloseCalendar(timezone="UTC", deadlines={("A", "X"): Deadline(1, time(9, 0))})
    entries = [
        {
            "app": "A",
            "domain": "X",
            "old_status": "Pending",
            "new_status": "OK",
            "at": "2026-10-20T10:00:00Z",
        },
        {
            "app": "A",
            "domain": "Y",
            "old_status": "Pending",
            "new_status": "Error",
            "at": "2026-11-03T10:00:00Z",
        },
    ]
    archives = build_archives(entries, calendar, [("A", "X"), ("A", "Y")], "2026-11", set())
    [x, y] = archives["2026-10"]["domains"]
    assert (x["status"], x["ok_at"], x["late"]) == ("OK", "2026-11-01T00:00:00Z", False)
    assert (y["status"], y["ok_at"]) == ("Error", None)
