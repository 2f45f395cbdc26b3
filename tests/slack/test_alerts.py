"""Channel alerts and subscription DMs, also when Slack rate-limits or fails."""

from __future__ import annotations

import logging

import pytest
from slack_sdk import WebClient

from bot.config import Config
from bot.model import Status, Update
from bot.sandbox.slack import PostedMessage, SlackSandbox
from bot.service import StatusService
from bot.slack.delivery import CURSOR_META, Cursor, Delivery
from bot.store import JsonStore
from tests.conftest import DiskFullStore, FakeClock, wait_until
from tests.slack.conftest import (
    ALERT_CHANNEL,
    ALICE,
    BOB,
    MakeRunning,
    Running,
    alerts_client,
    body_text,
)


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


def test_a_failing_slack_delays_alerts_but_never_skips_one(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """Each 500 is logged with its traceback; the alerts are then posted in order.

    The leader's client never retries in place (a retry after a sleep would go out
    without a lease check): the delivery backs off and tries again."""
    caplog.set_level(logging.ERROR, logger="bot.slack.posting")
    running.sandbox.inject("chat.postMessage", 500, times=3)
    running.reply("status arcs reconciliation warning '4 breaks'")
    running.reply("status arcs reconciliation error")
    wait_for_posts(running, 2)
    assert [c.status for c in running.sandbox.calls("chat.postMessage")] == [500] * 3 + [200] * 2
    assert channel_texts(running) == [
        "ARCS / Reconciliation is now Warning",
        "ARCS / Reconciliation is now Error",
    ]
    failures = alert_failures(caplog)
    assert len(failures) == 3 and all(f.exc_info is not None for f in failures)
    assert running.service.history("ARCS", "Reconciliation")[1].new_status is Status.WARNING


def alert_failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The logged failures to post a channel alert."""
    return [r for r in caplog.records if "could not post an alert" in r.getMessage()]


def test_a_timed_out_alert_is_logged_with_its_traceback_and_posted_later(
    sandbox: SlackSandbox, service: StatusService, caplog: pytest.LogCaptureFixture
) -> None:
    """A network timeout (not a Slack error) is logged with its traceback and retried."""
    caplog.set_level(logging.ERROR, logger="bot.slack.posting")
    client = WebClient(token=sandbox.bot_token, base_url=sandbox.api_url, timeout=1)
    clock = FakeClock()
    delivery = Delivery(service, client, ALERT_CHANNEL, clock=clock)
    delivery.cursor()
    sandbox.inject("chat.postMessage", None, delay=3, times=1)
    service.set("Planning", "Actuals", "Error", by="system")
    assert delivery.run_once() == 0
    (failure,) = alert_failures(caplog)
    assert failure.exc_info is not None and isinstance(failure.exc_info[1], TimeoutError)
    assert delivery.run_once() == 0  # backing off: no call
    clock.now += 60
    assert delivery.run_once() == 1
    assert [m.text for m in sandbox.messages(ALERT_CHANNEL)] == ["Planning / Actuals is now Error"]


def test_a_long_retry_after_is_not_slept_through_and_the_alert_follows_later(
    make_running: MakeRunning, caplog: pytest.LogCaptureFixture
) -> None:
    """A 429 asking for a minute returns at once; the alert goes out after that minute."""
    caplog.set_level(logging.ERROR, logger="bot.slack.posting")
    running = make_running()  # the fixture's own delivery has no alert channel
    clock = FakeClock()
    delivery = Delivery(running.service, alerts_client(running.config), ALERT_CHANNEL, clock=clock)
    delivery.cursor()
    running.sandbox.inject("chat.postMessage", 429, retry_after=60, times=1)
    running.reply("status fccs consolidation error")
    assert delivery.run_once() == 0
    # Not slept through and retried inside the call: one refused post, nothing more yet.
    assert [c.status for c in running.sandbox.calls("chat.postMessage")] == [429]
    clock.now += 30
    assert delivery.run_once() == 0  # Retry-After not over yet: no call
    assert [c.status for c in running.sandbox.calls("chat.postMessage")] == [429]
    clock.now += 31
    assert delivery.run_once() == 1
    assert channel_texts(running) == ["FCCS / Consolidation is now Error"]
    (failure,) = alert_failures(caplog)
    assert failure.exc_info is not None


def test_a_change_from_another_process_is_alerted_once_even_across_restarts(
    running: Running, config: Config
) -> None:
    """A second store on the same data dir (``epmpulse set`` beside ``run``) is alerted once."""
    other = JsonStore(running.config.settings.data_dir)
    try:
        StatusService(running.config.estate.layout, other).set(
            "ARCS", "Reconciliation", "Error", by="system"
        )
    finally:
        other.close()
    wait_for_posts(running, 1)
    last = running.service.store.history()[-1]["version"]
    # The running delivery records its cursor right after the post.
    wait_until(
        lambda: running.service.meta(CURSOR_META)["version"] >= last, "the cursor to be recorded"
    )
    restarted = Delivery(running.service, alerts_client(running.config), ALERT_CHANNEL)
    assert restarted.run_once() == 0
    assert channel_texts(running) == ["ARCS / Reconciliation is now Error"]


def test_a_crash_after_a_post_repeats_at_most_that_post(
    sandbox: SlackSandbox, service: StatusService
) -> None:
    """The cursor advances after every post: only the unrecorded post can be repeated."""
    client = WebClient(token=sandbox.bot_token, base_url=sandbox.api_url, timeout=5)
    service.transact(lambda work, now: (None, []))
    delivery = Delivery(service, client, ALERT_CHANNEL)
    delivery.cursor()
    service.set("Planning", "Actuals", "Error", by="system")
    service.set("Planning", "Budget", "Warning", by="system")
    assert delivery.run_once() == 2
    cursor = delivery.cursor()
    assert cursor.version == service.store.history()[-1]["version"]
    # A crash before recording the second post: the cursor is one post behind.
    service.set_meta(CURSOR_META, {"version": cursor.version - 1})
    again = Delivery(service, client, ALERT_CHANNEL)
    assert again.run_once() == 1
    assert [m.text for m in sandbox.messages(ALERT_CHANNEL)] == [
        "Planning / Actuals is now Error",
        "Planning / Budget is now Warning",
        "Planning / Budget is now Warning",
    ]


def _delivery_over(
    sandbox: SlackSandbox, service: StatusService, clock: FakeClock | None = None
) -> Delivery:
    client = WebClient(token=sandbox.bot_token, base_url=sandbox.api_url, timeout=5)
    delivery = Delivery(service, client, ALERT_CHANNEL, clock=clock or FakeClock())
    delivery.cursor()
    return delivery


def test_an_alert_whose_cursor_cannot_be_saved_is_never_posted_again(
    sandbox: SlackSandbox, config: Config
) -> None:
    """Disk full after a post: the position stays in memory, the alert is not repeated."""
    store = DiskFullStore(config.settings.data_dir)
    service = StatusService(config.estate.layout, store)
    clock = FakeClock()
    delivery = _delivery_over(sandbox, service, clock)
    service.set("Planning", "Actuals", "Error", by="system")
    store.full = True
    assert delivery.run_once() == 1
    assert delivery.failures == 1 and "cannot record the alert cursor" in (
        delivery.last_error or ""
    )
    for _ in range(3):  # ticks while the disk stays full
        clock.now += 120
        assert delivery.run_once() == 0
    store.full = False
    clock.now += 120
    assert delivery.run_once() == 0
    delivery.save()
    assert [m.text for m in sandbox.messages(ALERT_CHANNEL)] == ["Planning / Actuals is now Error"]
    assert service.meta(CURSOR_META)["version"] == service.version - 1
    store.close()


def test_a_revoked_token_delays_alerts_instead_of_dropping_them(
    sandbox: SlackSandbox, service: StatusService
) -> None:
    """Only refusals no retry can change are passed over; token_revoked is retried."""
    clock = FakeClock()
    delivery = _delivery_over(sandbox, service, clock)
    service.set("Planning", "Actuals", "Error", by="system")
    sandbox.inject("chat.postMessage", None, error="token_revoked")
    assert delivery.run_once() == 0
    assert delivery.failures == 1
    clock.now += 600
    assert delivery.run_once() == 1
    assert [m.text for m in sandbox.messages(ALERT_CHANNEL)] == ["Planning / Actuals is now Error"]


def test_a_halted_delivery_posts_nothing_more_and_a_late_cursor_never_moves_back(
    sandbox: SlackSandbox, service: StatusService
) -> None:
    """After halt (leadership lost) no post goes out; an older cursor write is ignored."""
    old_leader = _delivery_over(sandbox, service)
    new_leader = _delivery_over(sandbox, service)
    service.set("Planning", "Actuals", "Error", by="system")
    assert new_leader.run_once() == 1
    ahead = service.meta(CURSOR_META)
    old_leader.halt()
    assert old_leader.run_once() == 0
    old_leader._save(Cursor(ahead["version"] - 1))  # a slow old leader's last write
    assert service.meta(CURSOR_META) == ahead
    assert len(sandbox.messages(ALERT_CHANNEL)) == 1
