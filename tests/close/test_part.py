"""The close part: wake-ups at deadlines, overdue markers, exactly-once alerts, restarts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TypeVar

from bot.canvas.render import render_board
from bot.close.live import PASSED_META
from bot.close.overdue import ALERTS_META, OverdueAlerts
from bot.errors import StoreError
from bot.service import StatusService
from bot.slack.client import build_web_client
from bot.slack.posting import post_message
from bot.store import WorkingState
from tests.close.conftest import (
    ACTUALS_DUE,
    CHANNEL,
    CONSOLIDATION_DUE,
    DECEMBER_START,
    Close,
    MakeClose,
)
from tests.conftest import DiskFullStore

T = TypeVar("T")


def canvas(close: Close) -> str:
    """The canvas markdown as the publisher would render it now."""
    service = close.service
    return render_board(service.board(), title="EPM", close=service.close.canvas())


def row(markdown: str, app_heading: str, domain: str) -> str:
    """The table row of ``domain`` under ``## app_heading``."""
    section = markdown.split(f"## {app_heading}\n", 1)[1]
    return next(line for line in section.splitlines() if line.startswith(f"| {domain} |"))


def test_it_sleeps_until_the_first_deadline(make_close: MakeClose) -> None:
    """Started before any deadline: no alert, the one wake-up is armed at WD2 12:00."""
    close = make_close()
    close.part.start()
    assert close.alerts() == []
    assert close.part.next_wake == ACTUALS_DUE
    assert close.part.wakes == 1
    assert close.scheduler.get_job("close-wake") is not None


def test_a_passed_deadline_marks_the_domain_overdue_and_alerts_once(make_close: MakeClose) -> None:
    """At WD2 12:00 a domain in Error becomes overdue on the canvas and gets one alert."""
    close = make_close()
    close.service.set("Planning", "Actuals", "Error", "GL load failed", by="system")
    close.part.start()
    assert "overdue" not in row(canvas(close), "Planning", "Actuals")
    version = close.service.version

    close.clock.now = ACTUALS_DUE
    close.part.tick()
    assert close.service.version > version  # a board change: the canvas republishes
    assert "WD2 12:00 · Wed 2026-12-02 · overdue" in row(canvas(close), "Planning", "Actuals")
    (alert,) = close.alerts()
    assert "*Planning / Actuals* is overdue: due WD2 12:00" in alert
    assert ":red_circle: *Error*" in alert and "GL load failed" in alert

    close.clock.now = ACTUALS_DUE + timedelta(hours=1)
    close.part.tick()
    assert len(close.alerts()) == 1
    assert close.part.wake_at(close.clock.now) == CONSOLIDATION_DUE


def test_a_restart_never_alerts_again(make_close: MakeClose) -> None:
    """A new process over the same data finds the durable marker and stays quiet."""
    close = make_close(now=ACTUALS_DUE + timedelta(minutes=5))
    close.part.start()
    assert len(close.alerts()) == 1
    again = close.restart()
    again.part.start()
    assert len(again.alerts()) == 1
    assert again.service.meta(ALERTS_META)["sent"] == ["Planning/Actuals"]


def test_a_deadline_passed_while_nothing_ran_is_alerted_at_start(make_close: MakeClose) -> None:
    """Starting after both deadlines alerts both domains, each once, earliest first."""
    close = make_close(now=CONSOLIDATION_DUE + timedelta(days=1))
    close.part.start()
    alerts = close.alerts()
    assert len(alerts) == 2
    assert "Planning / Actuals" in alerts[0] and "FCCS / Consolidation" in alerts[1]
    assert close.service.meta(PASSED_META)["keys"] == ["Planning/Actuals", "FCCS/Consolidation"]
    # Nothing left this close: the next wake-up is the next close's start (1 Jan, GMT).
    assert close.part.next_wake == DECEMBER_START.replace(year=2027, month=1)


def test_a_domain_ok_at_its_deadline_is_neither_overdue_nor_alerted(make_close: MakeClose) -> None:
    """OK before WD2 12:00: the deadline is recorded as passed but nothing is late."""
    close = make_close()
    close.service.set("Planning", "Actuals", "OK", by="system")
    close.part.start()
    close.clock.now = ACTUALS_DUE
    close.part.tick()
    assert close.alerts() == []
    assert "overdue" not in row(canvas(close), "Planning", "Actuals")
    assert close.service.close.show_one(close.service.get("Planning", "Actuals")).overdue is False


def test_a_failed_alert_stays_queued_and_is_retried(make_close: MakeClose) -> None:
    """Slack failing: the alert is kept, a retry is armed within a minute, then sent once."""
    close = make_close(now=ACTUALS_DUE)
    close.sandbox.inject("chat.postMessage", 500, times=1)
    close.part.start()
    assert close.alerts() == []
    assert close.part.health().ok is False
    assert close.part.next_wake == ACTUALS_DUE + timedelta(seconds=60)
    assert close.service.meta(ALERTS_META)["pending"] == ["Planning/Actuals"]

    close.clock.now = ACTUALS_DUE + timedelta(seconds=60)
    close.part.tick()
    assert len(close.alerts()) == 1
    assert close.service.meta(ALERTS_META)["pending"] == []


def test_a_canvas_does_not_change_just_because_a_deadline_passed(make_close: MakeClose) -> None:
    """Until the part records the deadline, the canvas renders the same bytes."""
    close = make_close()
    close.service.set("Planning", "Actuals", "Error", by="system")
    close.part.start()
    before = canvas(close)
    close.clock.now = ACTUALS_DUE + timedelta(hours=2)
    assert canvas(close) == before
    close.part.tick()
    assert canvas(close) != before


def test_no_wake_up_happens_between_deadlines(make_close: MakeClose) -> None:
    """Each wake-up is armed at the next deadline or close start, never sooner."""
    close = make_close()
    close.part.start()
    moments = []
    for _ in range(3):
        moment = close.part.next_wake
        assert moment is not None
        moments.append(moment)
        close.clock.now = moment
        close.part.wake()
    assert moments == [ACTUALS_DUE, CONSOLIDATION_DUE, DECEMBER_START.replace(year=2027, month=1)]


def test_a_crash_between_sending_and_recording_repeats_that_alert_once(
    make_close: MakeClose,
) -> None:
    """The post went out but its record failed: the next start re-sends it, then never again."""
    close = make_close(now=ACTUALS_DUE)
    store = close.service.store
    real_commit = store.commit
    failures = []

    def commit_failing_the_sent_record(mutation: Callable[[WorkingState], T]) -> T:
        def guarded(work: WorkingState) -> T:
            result = mutation(work)
            sent = (work.meta.get(ALERTS_META) or {}).get("sent")
            if sent and not failures:
                failures.append(sent)
                raise StoreError("disk full")
            return result

        return real_commit(guarded)

    store.commit = commit_failing_the_sent_record  # type: ignore[method-assign]
    close.part.start()
    assert len(close.alerts()) == 1 and failures == [["Planning/Actuals"]]
    assert close.part.health().ok is False

    again = close.restart()
    again.part.start()
    assert len(again.alerts()) == 2  # the one repeat
    third = again.restart()
    third.part.start()
    assert len(third.alerts()) == 2


def test_an_alert_the_store_cannot_claim_is_not_posted_until_it_can(
    make_close: MakeClose,
) -> None:
    """Disk full: the alert cannot be claimed, so nothing is posted; then once (SPEC §15)."""
    close = make_close(now=ACTUALS_DUE)
    close.sandbox.inject("chat.postMessage", 500, times=1)
    close.part.start()  # the alert is queued, Slack failed once
    assert close.service.meta(ALERTS_META)["pending"] == ["Planning/Actuals"]
    assert len(close.sandbox.calls("chat.postMessage")) == 1
    full = DiskFullStore(close.config.settings.data_dir)
    service = StatusService(close.config.estate.layout, full, clock=close.clock)
    client = build_web_client(close.config.settings, server_errors=0)
    alerts = OverdueAlerts(service, close.part.calendar, partial(post_message, client, CHANNEL))
    full.full = True
    for _ in range(3):
        assert alerts.send("2026-11") is False
    assert len(close.sandbox.calls("chat.postMessage")) == 1 and close.alerts() == []
    full.full = False
    assert alerts.send("2026-11") is True
    assert len(close.alerts()) == 1
    assert service.meta(ALERTS_META)["pending"] == []
    assert service.meta(ALERTS_META)["claimed"] == {}
    assert service.meta(ALERTS_META)["sent"] == ["Planning/Actuals"]
    assert alerts.send("2026-11") is True and len(close.alerts()) == 1
    full.close()
