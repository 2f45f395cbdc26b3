"""Start-up finds the canvas even where ``canvases.sections.lookup`` cannot be used.

An emulator or a workspace may not offer the lookup (``unknown_method``, HTTP 404,
``not_allowed_token_type``, ``missing_scope``); then the first publish is the check.
"""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.canvas.lifecycle import CANVAS_META, LOOKUP
from bot.canvas.part import CanvasPart
from bot.canvas.publisher import FlushResult
from bot.config import Config
from bot.errors import CanvasError, ConfigError
from bot.runtime import Runtime
from bot.sandbox.slack import SlackSandbox
from tests.canvas.conftest import CHANNEL_ID, MakeSlackConfig, running, wait_for_canvas

MISSING_METHOD = [
    pytest.param(200, "unknown_method", id="unknown_method"),
    pytest.param(404, None, id="http-404"),
    pytest.param(200, "not_allowed_token_type", id="not_allowed_token_type"),
    pytest.param(200, "missing_scope", id="missing_scope"),
]


@pytest.mark.parametrize(("status", "error"), MISSING_METHOD)
def test_without_the_lookup_method_the_first_publish_checks_the_canvas(
    sandbox: SlackSandbox, slack_config: Config, canvas_id: str, status: int, error: str | None
) -> None:
    """Start-up replaces the canvas with the board instead, once, and runs normally."""
    sandbox.inject(LOOKUP, status, error=error)
    with running(slack_config) as (runtime, part):
        assert part.publisher is not None
        assert sandbox.canvas_markdown(canvas_id) == part.publisher.render()
        (edit,) = sandbox.calls("canvases.edit")
        assert edit.args["changes"][0]["operation"] == "replace"
        # Two flushes (as two ticks would): the board is already there.
        assert [part.publisher.flush() for _ in range(2)] == [FlushResult.UP_TO_DATE] * 2
        assert len(sandbox.calls("canvases.edit")) == 1
        runtime.service.set("ARCS", "Reconciliation", "ok", "GL load failed #42!", by="system")
        wait_for_canvas(sandbox, canvas_id, "| GL load failed #42! |")
        assert runtime.health()["canvas"].ok


@pytest.mark.parametrize(("status", "error"), MISSING_METHOD)
def test_without_the_lookup_method_a_missing_canvas_still_stops_start_up(
    sandbox: SlackSandbox, make_slack_config: MakeSlackConfig, status: int, error: str | None
) -> None:
    """``canvas_not_found`` from the checking publish stops start-up with the usual message."""
    sandbox.inject(LOOKUP, status, error=error)
    runtime = Runtime(make_slack_config(SLACK_CANVAS_ID="F0DOESNOTEXIST"))
    runtime.add_leader_only("canvas", lambda: CanvasPart(runtime))
    with pytest.raises(ConfigError) as raised:
        runtime.start()
    assert "SLACK_CANVAS_ID F0DOESNOTEXIST: no such canvas (canvas_not_found)" in str(raised.value)
    assert not runtime.scheduler.running
    runtime.store.close()


def test_without_any_way_to_check_start_up_fails_with_both_answers(
    sandbox: SlackSandbox, make_slack_config: MakeSlackConfig, canvas_id: str
) -> None:
    """When the checking publish fails too, start-up stops and says why."""
    sandbox.inject(LOOKUP, 200, error="unknown_method")
    sandbox.inject("canvases.edit", 403, error="restricted_action")
    runtime = Runtime(make_slack_config(SLACK_CANVAS_ID=canvas_id))
    runtime.add_leader_only("canvas", lambda: CanvasPart(runtime))
    with pytest.raises(CanvasError) as raised:
        runtime.start()
    assert str(raised.value) == (
        f"cannot check canvas {canvas_id}: canvases.edit answered restricted_action"
    )
    runtime.store.close()


def test_a_restart_reuses_the_channel_canvas_without_the_lookup_method(
    sandbox: SlackSandbox, make_slack_config: MakeSlackConfig
) -> None:
    """Only SLACK_CHANNEL_ID: the remembered canvas is checked by publishing, not recreated."""
    config = make_slack_config(SLACK_CHANNEL_ID=CHANNEL_ID)
    with running(config) as (_runtime, part):
        assert part.publisher is not None
        first = part.publisher.canvas_id
    sandbox.inject(LOOKUP, 200, error="unknown_method")
    with running(config) as (runtime, part):
        assert part.publisher is not None
        assert part.publisher.canvas_id == first
        assert sandbox.canvas_markdown(first) == part.publisher.render()
        assert runtime.health()["canvas"].ok
    assert len(sandbox.calls("conversations.canvases.create")) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [pytest.param(200, "fatal_error", id="fatal_error"), pytest.param(400, "invalid_arguments")],
)
def test_a_restart_never_fails_because_the_check_fails(
    sandbox: SlackSandbox, make_slack_config: MakeSlackConfig, status: int, error: str
) -> None:
    """A remembered channel canvas that cannot be checked is used, and kept current."""
    config = make_slack_config(SLACK_CHANNEL_ID=CHANNEL_ID)
    with running(config) as (_runtime, part):
        assert part.publisher is not None
        first = part.publisher.canvas_id
    sandbox.inject(LOOKUP, status, error=error)
    with running(config) as (runtime, part):
        assert part.publisher is not None
        assert part.publisher.canvas_id == first
        runtime.service.set("FCCS", "Actuals", "warning", "after restart", by="system")
        wait_for_canvas(sandbox, first, "| after restart |")
    assert len(sandbox.calls("conversations.canvases.create")) == 1


def test_a_deleted_channel_canvas_is_created_again_without_the_lookup_method(
    sandbox: SlackSandbox, make_slack_config: MakeSlackConfig
) -> None:
    """The checking publish answers ``canvas_not_found``: a new channel canvas is created."""
    config = make_slack_config(SLACK_CHANNEL_ID=CHANNEL_ID)
    with running(config) as (_runtime, part):
        assert part.publisher is not None
        first = part.publisher.canvas_id
    WebClient(token=sandbox.bot_token, base_url=sandbox.api_url).canvases_delete(canvas_id=first)
    sandbox.inject(LOOKUP, 200, error="unknown_method")
    with running(config) as (runtime, part):
        assert part.publisher is not None
        assert part.publisher.canvas_id not in (first, None)
        assert runtime.service.meta(CANVAS_META)["id"] == part.publisher.canvas_id
    assert len(sandbox.calls("conversations.canvases.create")) == 2
