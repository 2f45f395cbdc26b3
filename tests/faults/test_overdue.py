"""Overdue alerts under faults (SPEC §15): halted or lease-less senders post nothing more,
a permanent Slack refusal blocks no other alert, and a crash repeats at most one."""

from __future__ import annotations

import threading
from datetime import timedelta
from functools import partial

import pytest
from slack_sdk import WebClient

from bot.close.overdue import ALERTS_META, OverdueAlerts, mark_passed
from bot.lease import Lease
from bot.slack.client import build_leased_client
from bot.slack.posting import post_message
from tests.close.conftest import (  # noqa: F401 - fixtures
    CHANNEL,
    CONSOLIDATION_DUE,
    MakeClose,
    make_close,
    sandbox,
)
from tests.faults.faulty import Crash, CrashingClient

BOTH_LATE = CONSOLIDATION_DUE + timedelta(hours=1)  # Planning/Actuals and FCCS/Consolidation


def test_a_halt_during_a_send_posts_no_further_queued_alert(
    make_close: MakeClose,  # noqa: F811
) -> None:
    """Leadership lost while the first alert is in flight: the second is never posted."""
    close = make_close(now=BOTH_LATE)
    gate = close.sandbox.hold("chat.postMessage")
    ticking = threading.Thread(target=close.part.start, name="close-tick")
    ticking.start()
    assert gate.arrived.wait(5)
    close.part.halt()
    gate.release()
    ticking.join(5)
    assert not ticking.is_alive()
    assert len(close.sandbox.calls("chat.postMessage")) == 1
    queue = close.service.meta(ALERTS_META)
    assert queue["sent"] == ["Planning/Actuals"] and queue["pending"] == ["FCCS/Consolidation"]


def test_a_sender_whose_lease_ran_out_mid_send_posts_nothing_more(
    make_close: MakeClose,  # noqa: F811
) -> None:
    """Each post is checked against the lease just before it is sent."""
    close = make_close(now=BOTH_LATE)
    close.part.stop()
    mark_passed(close.service, close.part.calendar, BOTH_LATE, alerting=True)
    lease = Lease.held()
    client = build_leased_client(close.config.settings, lease)
    alerts = OverdueAlerts(
        close.service, close.part.calendar, partial(post_message, client, CHANNEL), lease=lease
    )
    gate = close.sandbox.hold("chat.postMessage")
    sending = threading.Thread(target=alerts.send, args=("2026-11",), name="send")
    sending.start()
    assert gate.arrived.wait(5)
    lease.end()
    gate.release()
    sending.join(5)
    assert len(close.sandbox.calls("chat.postMessage")) == 1
    assert alerts.send("2026-11") is False  # halted: still nothing
    assert len(close.sandbox.calls("chat.postMessage")) == 1


def test_a_permanent_refusal_drops_that_alert_and_the_next_one_goes_out(
    make_close: MakeClose,  # noqa: F811
) -> None:
    """is_archived for one alert is logged and dropped; it blocks no other alert."""
    close = make_close()
    close.sandbox.inject("chat.postMessage", None, error="is_archived", times=1)
    close.clock.now = BOTH_LATE
    close.part.start()
    calls = close.sandbox.calls("chat.postMessage")
    assert [c.response.get("ok") for c in calls] == [False, True]
    queue = close.service.meta(ALERTS_META)
    assert queue["dropped"] == ["Planning/Actuals"]
    assert queue["sent"] == ["FCCS/Consolidation"]
    assert queue["pending"] == [] and queue["claimed"] == {}
    assert close.part.health().ok
    close.part.tick()
    assert len(close.sandbox.calls("chat.postMessage")) == 2


def test_a_crash_after_the_claim_sends_the_alert_on_the_next_start(
    make_close: MakeClose,  # noqa: F811
) -> None:
    """Killed between the claim and the post: the next leader posts it (none is lost)."""
    close = make_close(now=BOTH_LATE)
    close.part.stop()
    mark_passed(close.service, close.part.calendar, BOTH_LATE, alerting=True)
    client = WebClient(token=close.sandbox.bot_token, base_url=close.sandbox.api_url)
    crashing = CrashingClient(client, crash_on_post=1)
    with pytest.raises(Crash):
        OverdueAlerts(
            close.service, close.part.calendar, partial(post_message, crashing, CHANNEL)
        ).send("2026-11")
    assert list(close.service.meta(ALERTS_META)["claimed"]) == ["Planning/Actuals"]
    assert close.sandbox.calls("chat.postMessage") == []
    again = close.restart()
    again.part.start()
    assert len(again.alerts()) == 2 and len(set(again.alerts())) == 2
    assert close.service.meta(ALERTS_META)["claimed"] == {}
