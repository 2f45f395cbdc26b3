"""The error boundary and the usergroup cache."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

import pytest
from slack_sdk import WebClient

from bot.errors import StoreError
from bot.sandbox.slack import DEFAULT_CHANNEL_ID, SlackSandbox
from bot.slack.blocks import Message
from bot.slack.commandline import CommandContext, SubCommand
from bot.slack.editors import Editors
from bot.slack.listeners.errors import APOLOGY
from bot.slack.modal import CALLBACK_ID, MESSAGE_BLOCK
from bot.store import JsonStore, Mutation
from bot.store.health import nothing_saved
from tests.conftest import DiskFullStore, wait_until
from tests.slack.conftest import ALICE, BOB, MakeRunning, Running

T = TypeVar("T")


def explode(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """A sub-command with a bug."""
    raise RuntimeError("secret internals /srv/epmpulse/bot.py line 42")


BOOM = SubCommand("boom", "", "fails", explode)


def wait_for_log(caplog: pytest.LogCaptureFixture, text: str, timeout: float = 5.0) -> None:
    """Wait until a listener thread has logged a message containing ``text``."""
    wait_until(
        lambda: any(text in r.getMessage() for r in caplog.records),
        f"a log line with {text!r}",
        timeout=timeout,
    )


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


def test_a_failing_command_without_a_response_url_still_gets_the_apology(
    make_running: MakeRunning,
) -> None:
    """A slash command has no ``type``; the boundary still apologises, ephemerally."""
    running = make_running(extra_subcommands=(BOOM,))
    running.sandbox.send_command("boom", with_response_url=False)
    call = running.sandbox.wait_for_call("chat.postEphemeral")
    assert call.ok and call.args["text"] == APOLOGY
    assert call.args["user"] == ALICE and call.args["channel"] == DEFAULT_CHANNEL_ID
    assert "secret internals" not in str(call.args)


def test_a_reply_that_cannot_be_sent_at_all_is_logged(
    make_running: MakeRunning, caplog: pytest.LogCaptureFixture
) -> None:
    """When chat.postEphemeral fails too, the boundary logs the failure with its traceback."""
    running = make_running()
    running.sandbox.inject("chat.postEphemeral", status=None, error="channel_not_found", times=2)
    caplog.set_level(logging.WARNING, logger="bot.slack.listeners.errors")
    running.sandbox.send_command("help", with_response_url=False)
    running.sandbox.wait_for_call("chat.postEphemeral", count=2)
    failed = running.sandbox.calls("chat.postEphemeral")
    assert [c.error for c in failed] == ["channel_not_found"] * 2
    assert failed[1].args["text"] == APOLOGY
    wait_for_log(caplog, "could not send the apology")
    errors = [r for r in caplog.records if r.name == "bot.slack.listeners.errors"]
    assert "/epmpulse by U0ALICE failed" in errors[0].getMessage() and errors[0].exc_info
    assert "could not send the apology to U0ALICE" in errors[1].getMessage()


class BrokenStore(JsonStore):
    """A JSON store whose commits, while ``broken``, fail with an error nobody expects."""

    broken = False

    def commit(self, mutation: Mutation[T]) -> T:
        """Fail unexpectedly while broken, commit normally otherwise."""
        if self.broken:
            raise OSError("disk on fire")
        return super().commit(mutation)


def test_a_failing_submission_keeps_the_form_open_with_an_apology(
    make_running: MakeRunning, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected failure while saving a modal answers with the apology on the form."""
    running = make_running(store_type=BrokenStore)
    running.sandbox.open_shortcut(CALLBACK_ID)
    view = running.sandbox.wait_for_modal(ALICE)
    row = next(b["block_id"] for b in view["blocks"] if b["type"] == "input")
    store = running.service.store
    assert isinstance(store, BrokenStore)
    store.broken = True
    caplog.set_level(logging.ERROR, logger="bot.slack.listeners.errors")
    try:
        ack = running.sandbox.submit_view(view["id"], {row: "Error"})
    finally:
        store.broken = False  # the part's own shutdown writes to the store
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


def test_an_unreachable_slack_keeps_the_last_usergroup_answer(sandbox: SlackSandbox) -> None:
    """A connection error (not a Slack error) also falls back to the stale membership."""
    now = [0.0]
    client = WebClient(token=sandbox.bot_token, base_url=sandbox.api_url, retry_handlers=[])
    editors = Editors(["S0CLOSE"], client, clock=lambda: now[0])
    sandbox.add_usergroup("S0CLOSE", [BOB])
    assert editors.is_editor(BOB)
    now[0] += 301
    sandbox.stop()  # the port is closed: usergroups.users.list raises URLError
    assert editors.is_editor(BOB) and not editors.is_editor(ALICE)


def full_store(running: Running) -> DiskFullStore:
    """The running part's store, with its disk full."""
    store = running.service.store
    assert isinstance(store, DiskFullStore)
    store.full = True
    return store


def test_a_command_that_cannot_save_says_nothing_was_saved_and_why(
    make_running: MakeRunning,
) -> None:
    """With the disk full, a slash-command write is answered plainly, not with the apology."""
    running = make_running(store_type=DiskFullStore)
    full = full_store(running)
    (body,) = running.command("status Planning Actuals ok")
    text = body["text"]
    assert text == nothing_saved(StoreError("x", reason="disk full"))
    assert "Nothing was saved: the store is unavailable (disk full)." in text
    assert running.service.write_health.failure is not None
    full.full = False
    assert "OK" in running.reply("status Planning Actuals ok")
    assert running.service.write_health.failure is None


def test_a_submission_that_cannot_save_says_so_on_the_form(make_running: MakeRunning) -> None:
    """With the disk full, the modal stays open and says that nothing was saved and why."""
    running = make_running(store_type=DiskFullStore)
    full_store(running)
    running.sandbox.open_shortcut(CALLBACK_ID)
    view = running.sandbox.wait_for_modal(ALICE)
    row = next(b["block_id"] for b in view["blocks"] if b["type"] == "input")
    ack = running.sandbox.submit_view(view["id"], {row: "Error"})
    errors = ack.payload["errors"]
    assert errors == {MESSAGE_BLOCK: nothing_saved(StoreError("x", reason="disk full"))}


class _Inline(Executor):
    """Runs each listener at once, in the caller's thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_a_command_that_fails_after_its_ack_is_still_acknowledged(
    make_running: MakeRunning,
) -> None:
    """Bolt's error path clears an ack already given (slack_bolt 1.30), so a listener that
    raised after ``ack()`` went unacknowledged whenever that path finished before Bolt
    looked for the ack, and Slack showed the user an error besides our apology. The
    failure is now reported inside the listener. Running listeners inline makes Bolt
    look last: deterministic.
    """
    running = make_running(extra_subcommands=(BOOM,))
    assert running.part.app is not None
    running.part.app.listener_runner.listener_executor = _Inline()
    ack = running.sandbox.send_command("boom", with_response_url=False)
    assert ack.type == "slash_commands" and ack.refusal is None
    call = running.sandbox.wait_for_call("chat.postEphemeral")
    assert call.args["text"] == APOLOGY
