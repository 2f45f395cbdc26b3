"""The error boundary and the usergroup cache."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from bot.slack.blocks import Message
from bot.slack.commandline import CommandContext, SubCommand
from bot.slack.listeners.errors import APOLOGY
from bot.slack.modal import CALLBACK_ID, MESSAGE_BLOCK
from tests.slack.conftest import ALICE, BOB, MakeRunning


def explode(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """A sub-command with a bug."""
    raise RuntimeError("secret internals /srv/epmpulse/bot.py line 42")


BOOM = SubCommand("boom", "", "fails", explode)


def test_an_unexpected_error_is_logged_and_the_user_gets_an_apology(
    make_running: MakeRunning, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in a sub-command is logged with its traceback; the user sees only an apology."""
    running = make_running(extra_subcommands=(BOOM,))
    caplog.set_level(logging.ERROR, logger="bot.slack.listeners.errors")
    (body,) = running.command("boom")
    assert body["text"] == APOLOGY
    assert "secret internals" not in str(body) and "Traceback" not in str(body)
    failures = [r for r in caplog.records if r.name == "bot.slack.listeners.errors"]
    assert len(failures) == 1
    assert failures[0].exc_info is not None and failures[0].exc_info[0] is RuntimeError
    assert "/epmpulse by U0ALICE failed" in failures[0].getMessage()
    assert "Planning" in running.reply("status")  # the app keeps serving


def test_a_failing_submission_keeps_the_form_open_with_an_apology(
    make_running: MakeRunning, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected failure while saving a modal answers with the apology on the form."""
    running = make_running()
    running.sandbox.open_shortcut(CALLBACK_ID)
    view = running.sandbox.wait_for_modal(ALICE)
    row = next(b["block_id"] for b in view["blocks"] if b["type"] == "input")

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(running.service, "set_many", broken)
    caplog.set_level(logging.ERROR, logger="bot.slack.listeners.errors")
    ack = running.sandbox.submit_view(view["id"], {row: "Error"})
    assert ack.payload == {"response_action": "errors", "errors": {MESSAGE_BLOCK: APOLOGY}}
    assert any(r.exc_info for r in caplog.records if "view_submission" in r.getMessage())


def test_usergroup_members_are_cached_for_five_minutes(make_running: MakeRunning) -> None:
    """Membership is fetched once per TTL; a change shows after the cache expires."""
    now = [1000.0]
    running = make_running(clock=lambda: now[0], EPMPULSE_EDITORS="S0CLOSE")
    running.sandbox.add_usergroup("S0CLOSE", [BOB])
    editors = running.part.deps.editors
    assert editors.is_editor(BOB) and not editors.is_editor(ALICE)
    running.sandbox.add_usergroup("S0CLOSE", [ALICE])
    now[0] += 299
    assert editors.is_editor(BOB) and not editors.is_editor(ALICE)
    assert len(running.sandbox.calls("usergroups.users.list")) == 1
    now[0] += 2
    assert editors.is_editor(ALICE) and not editors.is_editor(BOB)
    assert len(running.sandbox.calls("usergroups.users.list")) == 2


def test_a_failed_usergroup_lookup_keeps_the_last_answer(make_running: MakeRunning) -> None:
    """When Slack cannot list a group, the stale membership is used rather than nobody."""
    now = [0.0]
    running = make_running(clock=lambda: now[0], EPMPULSE_EDITORS="S0CLOSE")
    running.sandbox.add_usergroup("S0CLOSE", [BOB])
    editors = running.part.deps.editors
    assert editors.is_editor(BOB)
    now[0] += 301
    running.sandbox.inject("usergroups.users.list", status=None, error="invalid_auth")
    assert editors.is_editor(BOB)
    calls = running.sandbox.calls("usergroups.users.list")
    assert [c.error for c in calls] == [None, "invalid_auth"]
