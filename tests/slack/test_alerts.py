"""Channel alerts and subscription DMs, also when Slack rate-limits or fails."""

from __future__ import annotations

import logging
import time

import pytest
from slack_sdk import WebClient

from bot.model import Status, Update
from bot.sandbox.slack import PostedMessage, SlackSandbox
from bot.service import StatusService
from bot.slack.alerts import Alerts
from bot.slack.subscriptions import Subscriptions
from tests.slack.conftest import ALERT_CHANNEL, ALICE, BOB, MakeRunning, Running, body_text


def channel_texts(running: Running, channel: str = ALERT_CHANNEL) -> list[str]:
    """The fallback texts of the messages posted to ``channel``."""
    return [m.text or "" for m in running.sandbox.messages(channel)]


def wait_for_posts(running: Running, count: int, channel: str = ALERT_CHANNEL) -> None:
    """Wait until ``count`` successful chat.postMessage calls reached ``channel``."""
    running.sandbox.wait_for_call(
        "chat.postMessage",
        count=count,
        where=lambda c: c.ok and c.args.get("channel") == channel,
        timeout=10,
    )


def test_a_change_to_error_is_posted_to_the_alert_channel(running: Running) -> None:
    """Setting Error posts one message naming the domain, the change, who and why."""
    running.reply("status planning actuals error 'GL load failed'")
    wait_for_posts(running, 1)
    (message,) = running.sandbox.messages(ALERT_CHANNEL)
    assert message.text == "Planning / Actuals is now Error"
    assert message.blocks is not None
    text = body_text({"blocks": message.blocks})
    assert (
        ":red_circle: *Planning / Actuals* Pending → *Error* by <@U0ALICE> · GL load failed" in text
    )


def test_only_problems_and_recoveries_are_alerted(running: Running) -> None:
    """Warning, Error and recoveries to OK alert; other changes do not."""
    service = running.service
    service.set("FCCS", "Actuals", "Loading", by="system")  # no alert
    service.set("FCCS", "Actuals", "Warning", "slow", by="system")  # alert
    service.set("FCCS", "Actuals", "Warning", "still slow", by="system")  # same status: none
    service.set("FCCS", "Actuals", "Error", by="system")  # alert
    service.set("FCCS", "Actuals", "OK", by="system")  # recovery: alert
    service.set("FCCS", "Actuals", "Loading", by="system")  # none
    service.set("FCCS", "Actuals", "OK", by="system")  # OK but not from a problem: none
    service.set("ARCS", "Reconciliation", "Error", by="system")  # alert, marks the end
    wait_for_posts(running, 4)
    assert channel_texts(running) == [
        "FCCS / Actuals is now Warning",
        "FCCS / Actuals is now Error",
        "FCCS / Actuals is now OK",
        "ARCS / Reconciliation is now Error",
    ]


def test_a_batch_with_several_problems_posts_one_message(running: Running) -> None:
    """One batch is announced in one message listing every alerting change."""
    running.service.set_many(
        [
            Update(app="Planning", domain="Actuals", status="Error"),
            Update(app="Planning", domain="Forecast", status="Loading"),
            Update(app="Planning", domain="Budget", status="Warning"),
        ],
        by="api:ci",
    )
    wait_for_posts(running, 1)
    (message,) = running.sandbox.messages(ALERT_CHANNEL)
    assert message.text == "Planning / Actuals is now Error (and 1 more change(s))"
    text = body_text({"blocks": message.blocks or []})
    assert "Budget" in text and "Forecast" not in text


def test_without_an_alert_channel_nothing_is_posted(make_running: MakeRunning) -> None:
    """With no SLACK_CHANNEL_ID, problems are not posted anywhere."""
    running = make_running()
    running.reply("subscribe arcs", user=BOB)
    running.reply("status planning actuals error")
    running.reply("status arcs reconciliation ok")
    wait_for_posts(running, 1, channel=BOB)  # the DM shows the queue has drained
    assert [c.args["channel"] for c in running.sandbox.calls("chat.postMessage")] == [BOB]


def test_subscribers_get_a_dm_on_every_change(running: Running) -> None:
    """App and domain subscribers get one DM per change that concerns them."""
    running.reply("subscribe planning", user=BOB)
    running.reply("subscribe planning budget")
    running.service.set("Planning", "Forecast", "Loading", "started", by="epm:planning")
    running.service.set("Planning", "Budget", "OK", by="api:ci")
    running.service.set("FCCS", "Actuals", "Loading", by="system")
    wait_for_posts(running, 2, channel=BOB)
    wait_for_posts(running, 1, channel=ALICE)
    bob = [c for c in running.sandbox.calls("chat.postMessage") if c.args["channel"] == BOB]
    assert [c.args["text"] for c in bob] == [
        "EPMPulse: Planning / Forecast changed",
        "EPMPulse: Planning / Budget changed",
    ]
    alice = [c for c in running.sandbox.calls("chat.postMessage") if c.args["channel"] == ALICE]
    assert [c.args["text"] for c in alice] == ["EPMPulse: Planning / Budget changed"]
    dm: list[PostedMessage] = [
        m for m in running.sandbox.messages() if m.text and "Forecast" in m.text
    ]
    assert dm and "Pending → *Loading* by epm:planning · started" in body_text(
        {"blocks": dm[0].blocks or []}
    )


def test_a_rate_limited_alert_is_retried_after_retry_after(running: Running) -> None:
    """A 429 on chat.postMessage is retried after Retry-After; the reply does not wait."""
    running.sandbox.inject("chat.postMessage", 429, times=1, retry_after=1)
    text = running.reply("status fccs consolidation error")
    assert "is now *Error*" in text
    assert running.service.get("FCCS", "Consolidation").status is Status.ERROR
    wait_for_posts(running, 1)
    statuses = [c.status for c in running.sandbox.calls("chat.postMessage")]
    assert statuses == [429, 200]
    reply_at = running.last_response().at
    posted_at = running.sandbox.calls("chat.postMessage")[-1].at
    assert reply_at < posted_at


def test_a_failing_slack_never_undoes_the_change(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """500s beyond the retries are logged with a traceback; the change stays saved."""
    caplog.set_level(logging.ERROR, logger="bot.slack.alerts")
    running.sandbox.inject("chat.postMessage", 500, times=3)
    running.reply("status arcs reconciliation warning '4 breaks'")
    running.reply("status arcs reconciliation error")  # queued behind the failing one
    wait_for_posts(running, 1)
    assert [c.status for c in running.sandbox.calls("chat.postMessage")] == [500, 500, 500, 200]
    assert channel_texts(running) == ["ARCS / Reconciliation is now Error"]
    failures = [r for r in caplog.records if "could not post an alert" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert running.service.history("ARCS", "Reconciliation")[1].new_status is Status.WARNING


def alert_failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The logged failures to post a channel alert."""
    return [r for r in caplog.records if "could not post an alert" in r.getMessage()]


def test_a_timed_out_alert_is_logged_with_its_traceback(
    sandbox: SlackSandbox, service: StatusService, caplog: pytest.LogCaptureFixture
) -> None:
    """A network timeout (not a Slack error) is logged like any failed post, not lost."""
    caplog.set_level(logging.ERROR, logger="bot.slack.alerts")
    client = WebClient(token=sandbox.bot_token, base_url=sandbox.api_url, timeout=1)
    alerts = Alerts(client, ALERT_CHANNEL, Subscriptions(service))
    service.add_listener(alerts.on_changes)
    sandbox.inject("chat.postMessage", None, delay=3)
    service.set("Planning", "Actuals", "Error", by="system")
    alerts.close(timeout=5)
    (failure,) = alert_failures(caplog)
    assert failure.exc_info is not None and isinstance(failure.exc_info[1], TimeoutError)


def test_a_long_retry_after_drops_the_alert_instead_of_holding_up_shutdown(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """A 429 asking for a minute is logged at once rather than slept through."""
    caplog.set_level(logging.ERROR, logger="bot.slack.alerts")
    running.sandbox.inject("chat.postMessage", 429, retry_after=60)
    running.reply("status fccs consolidation error")
    started = time.monotonic()
    running.part.alerts.close(timeout=5)
    assert time.monotonic() - started < 4
    assert [c.status for c in running.sandbox.calls("chat.postMessage")] == [429]
    (failure,) = alert_failures(caplog)
    assert failure.exc_info is not None
