"""The canvas part: canvas checked or created at start-up, flushed on schedule and at stop."""

from __future__ import annotations

import json
import logging

import pytest
from slack_sdk import WebClient

from bot.canvas.lifecycle import CANVAS_META
from bot.canvas.part import CanvasPart
from bot.canvas.publisher import MIN_PUBLISH_INTERVAL_SECONDS, FlushResult
from bot.config import Config
from bot.errors import ConfigError
from bot.runtime import Runtime
from bot.sandbox.slack import SlackSandbox
from tests.canvas.conftest import CHANNEL_ID, WAIT, MakeSlackConfig, running, wait_for_canvas
from tests.conftest import wait_until


def test_start_fails_clearly_when_the_canvas_does_not_exist(
    sandbox: SlackSandbox, make_slack_config: MakeSlackConfig
) -> None:
    """A SLACK_CANVAS_ID Slack does not know stops start-up, naming the variable and id."""
    runtime = Runtime(make_slack_config(SLACK_CANVAS_ID="F0DOESNOTEXIST"))
    runtime.add_leader_only("canvas", lambda: CanvasPart(runtime))
    with pytest.raises(ConfigError) as raised:
        runtime.start()
    message = str(raised.value)
    assert "SLACK_CANVAS_ID F0DOESNOTEXIST: no such canvas (canvas_not_found)" in message
    assert not runtime.scheduler.running
    assert sandbox.calls("canvases.edit") == []
    runtime.store.close()


def test_the_configured_canvas_is_checked_and_published_right_away(
    sandbox: SlackSandbox, slack_config: Config, canvas_id: str
) -> None:
    """Start-up looks the canvas up once, then the first tick publishes the board."""
    with running(slack_config) as (runtime, part):
        markdown = wait_for_canvas(sandbox, canvas_id, "## Planning")
        assert part.publisher is not None
        assert markdown == part.publisher.render()
        (lookup,) = sandbox.calls("canvases.sections.lookup")
        assert lookup.args["canvas_id"] == canvas_id
        assert runtime.health()["canvas"].ok


def test_a_change_reaches_the_canvas_with_the_next_publish(
    sandbox: SlackSandbox, slack_config: Config, canvas_id: str
) -> None:
    """A status change goes out with the first canvases.edit after it, not a later one."""
    row = "| Consolidation | :red_circle: Error | Rule 12"
    with running(slack_config) as (runtime, _part):
        wait_for_canvas(sandbox, canvas_id, "## Planning")
        before = len(sandbox.calls("canvases.edit"))
        runtime.service.set("FCCS", "Consolidation", "error", "Rule 12 failed", by="api:ci")
        wait_for_canvas(sandbox, canvas_id, row)
        edits = sandbox.calls("canvases.edit")[before:]
        assert len(edits) == 1 and row in json.dumps(edits[0].args)


def test_flushes_never_tick_faster_than_slacks_tier_3_rate(
    make_slack_config: MakeSlackConfig, canvas_id: str
) -> None:
    """A tiny debounce still schedules the flush job at most 50 times a minute."""
    config = make_slack_config(SLACK_CANVAS_ID=canvas_id, EPMPULSE_CANVAS_DEBOUNCE_SECONDS="0.2")
    with running(config) as (runtime, _part):
        job = runtime.scheduler.get_job("canvas-flush")
        assert job.trigger.interval.total_seconds() == MIN_PUBLISH_INTERVAL_SECONDS == 1.2
    config = make_slack_config(SLACK_CANVAS_ID=canvas_id, EPMPULSE_CANVAS_DEBOUNCE_SECONDS="5")
    with running(config) as (runtime, _part):
        job = runtime.scheduler.get_job("canvas-flush")
        assert job.trigger.interval.total_seconds() == 5


def test_a_channel_canvas_is_created_once_with_the_board_and_remembered(
    sandbox: SlackSandbox, make_slack_config: MakeSlackConfig
) -> None:
    """With only SLACK_CHANNEL_ID the channel canvas is created holding the board."""
    config = make_slack_config(SLACK_CHANNEL_ID=CHANNEL_ID)
    with running(config) as (runtime, part):
        assert part.publisher is not None
        canvas_id = sandbox.channel_canvas_id(CHANNEL_ID)
        assert canvas_id == part.publisher.canvas_id
        (create,) = sandbox.calls("conversations.canvases.create")
        assert create.args["document_content"]["markdown"] == part.publisher.render()
        assert create.args["title"] == "EPM Status"
        assert runtime.service.meta(CANVAS_META) == {"id": canvas_id, "channel_id": CHANNEL_ID}
        # Two flushes (as two ticks would): the board is already there.
        assert [part.publisher.flush() for _ in range(2)] == [FlushResult.UP_TO_DATE] * 2
        assert sandbox.calls("canvases.edit") == []
    with running(config) as (_runtime, part):
        assert part.publisher is not None
        assert part.publisher.canvas_id == canvas_id
    assert len(sandbox.calls("conversations.canvases.create")) == 1


def test_an_existing_channel_canvas_is_reused(
    sandbox: SlackSandbox, make_slack_config: MakeSlackConfig
) -> None:
    """When the channel already has a canvas, its id comes from conversations.info."""
    existing = sandbox.create_canvas("# Old notes\n", channel_id=CHANNEL_ID)
    with running(make_slack_config(SLACK_CHANNEL_ID=CHANNEL_ID)) as (runtime, part):
        assert part.publisher is not None
        assert part.publisher.canvas_id == existing
        (create,) = sandbox.calls("conversations.canvases.create")
        assert create.error == "channel_canvas_already_exists"
        assert sandbox.calls("conversations.info")
        wait_for_canvas(sandbox, existing, "## Planning")
        assert "Old notes" not in sandbox.canvas_markdown(existing)
        assert runtime.service.meta(CANVAS_META)["id"] == existing


def test_a_deleted_channel_canvas_is_created_again(
    sandbox: SlackSandbox, make_slack_config: MakeSlackConfig
) -> None:
    """A remembered channel canvas that no longer exists is replaced, not used blindly."""
    config = make_slack_config(SLACK_CHANNEL_ID=CHANNEL_ID)
    with running(config) as (_runtime, part):
        assert part.publisher is not None
        first = part.publisher.canvas_id
    WebClient(token=sandbox.bot_token, base_url=sandbox.api_url).canvases_delete(canvas_id=first)
    with running(config) as (runtime, part):
        assert part.publisher is not None
        assert part.publisher.canvas_id != first
        assert runtime.service.meta(CANVAS_META)["id"] == part.publisher.canvas_id


def test_stop_publishes_pending_changes_first(
    sandbox: SlackSandbox, make_slack_config: MakeSlackConfig, canvas_id: str
) -> None:
    """A change made just before shutdown is on the canvas when stop returns."""
    config = make_slack_config(SLACK_CANVAS_ID=canvas_id, EPMPULSE_CANVAS_DEBOUNCE_SECONDS="60")
    with running(config) as (runtime, _part):
        wait_for_canvas(sandbox, canvas_id, "## Planning")
        runtime.service.set("ARCS", "Reconciliation", "ok", "done before SIGTERM", by="system")
    assert "done before SIGTERM" in sandbox.canvas_markdown(canvas_id)


def test_stop_waits_a_bounded_time_and_the_change_goes_out_after_restart(
    sandbox: SlackSandbox,
    make_slack_config: MakeSlackConfig,
    canvas_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Rate limited at shutdown: stop gives up in time, the next start publishes."""
    config = make_slack_config(SLACK_CANVAS_ID=canvas_id, EPMPULSE_CANVAS_DEBOUNCE_SECONDS="60")
    with running(config, stop_timeout=0.5) as (runtime, _part):
        wait_for_canvas(sandbox, canvas_id, "## Planning")
        runtime.service.set("ARCS", "Reconciliation", "error", "late change", by="system")
        sandbox.inject("canvases.edit", 429, retry_after=30)
        caplog.set_level(logging.WARNING, logger="bot.canvas.part")
    # Stop gave up (the log says so) instead of waiting out the 30 s Retry-After.
    assert sandbox.calls("canvases.edit")[-1].status == 429
    assert "late change" not in sandbox.canvas_markdown(canvas_id)
    assert any("not up to date at shutdown" in r.getMessage() for r in caplog.records)
    with running(config):
        wait_for_canvas(sandbox, canvas_id, "late change")


def test_health_turns_red_when_publishing_fails(
    sandbox: SlackSandbox, make_slack_config: MakeSlackConfig, canvas_id: str
) -> None:
    """A failing publish makes the canvas check fail with the reason."""
    config = make_slack_config(SLACK_CANVAS_ID=canvas_id, EPMPULSE_CANVAS_DEBOUNCE_SECONDS="0.1")
    sandbox.inject("canvases.edit", 500, times=50)
    with running(config, stop_timeout=0.2) as (runtime, _part):
        wait_until(lambda: not runtime.health()["canvas"].ok, "the canvas check to fail")
        check = runtime.health()["canvas"]
        assert not check.ok
        assert "internal_error" in check.detail
    sandbox.clear_faults()


def test_a_refresh_requested_before_start_is_honoured(
    sandbox: SlackSandbox, slack_config: Config, canvas_id: str
) -> None:
    """``/epmpulse refresh`` may arrive before the canvas part has started; it still counts."""
    with running(slack_config):
        wait_for_canvas(sandbox, canvas_id, "## Planning")
    published = len(sandbox.calls("canvases.edit"))
    runtime = Runtime(slack_config)
    part = CanvasPart(runtime)
    runtime.add_leader_only("canvas", lambda: part)
    part.request_refresh()
    runtime.start()
    try:
        sandbox.wait_for_call("canvases.edit", count=published + 1, timeout=WAIT)
    finally:
        runtime.stop()
    assert len(sandbox.calls("canvases.edit")) == published + 1


def test_without_a_refresh_an_unchanged_board_is_not_republished_at_start(
    sandbox: SlackSandbox, slack_config: Config, canvas_id: str
) -> None:
    """A restart with nothing new costs no canvases.edit call."""
    with running(slack_config):
        wait_for_canvas(sandbox, canvas_id, "## Planning")
    published = len(sandbox.calls("canvases.edit"))
    with running(slack_config) as (_runtime, part):
        assert part.publisher is not None
        assert [part.publisher.flush() for _ in range(2)] == [FlushResult.UP_TO_DATE] * 2
    assert len(sandbox.calls("canvases.edit")) == published
