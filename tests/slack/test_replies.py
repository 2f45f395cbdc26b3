"""Slash-command replies: the response_url first, chat.postEphemeral when it is missing or fails."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from slack_sdk import WebClient

from bot.sandbox.slack import DEFAULT_CHANNEL_ID, SlackSandbox
from bot.slack.blocks import Message, text_messages
from bot.slack.commandline import CommandContext, SubCommand
from bot.slack.replies import send_replies
from tests.slack.conftest import ALICE, OPS_CHANNEL, MakeRunning, Running, body_text


def six_replies(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """One reply more than a response_url accepts."""
    return [text_messages(f"reply {n}")[0] for n in range(1, 7)]


SIX = SubCommand("six", "", "six replies", six_replies)


def closed_port_url() -> str:
    """A loopback URL nobody listens on, so posting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/response/T0/gone"


def test_a_command_without_a_response_url_is_answered_ephemerally(running: Running) -> None:
    """Without a response_url the reply is a chat.postEphemeral to the user in the channel."""
    running.sandbox.send_command("help", with_response_url=False)
    call = running.sandbox.wait_for_call("chat.postEphemeral")
    assert call.ok
    assert call.args["channel"] == DEFAULT_CHANNEL_ID and call.args["user"] == ALICE
    assert call.args["text"].startswith("*EPMPulse* shows")
    assert "/epmpulse history APP DOMAIN [N]" in body_text(call.args)
    assert running.sandbox.responses() == []


def test_a_reply_the_response_url_refuses_is_sent_ephemerally(make_running: MakeRunning) -> None:
    """A response_url takes five replies; the sixth, refused with a 404, goes ephemerally."""
    running = make_running(extra_subcommands=(SIX,))
    running.sandbox.send_command("six")
    call = running.sandbox.wait_for_call("chat.postEphemeral")
    assert call.ok and call.args["text"] == "reply 6" and call.args["user"] == ALICE
    posts = running.sandbox.responses()
    assert [p.status for p in posts] == [200] * 5 + [404]
    assert [p.body["text"] for p in posts[:5]] == [f"reply {n}" for n in range(1, 6)]
    assert len(running.sandbox.calls("chat.postEphemeral")) == 1


def test_an_unreachable_response_url_is_given_up_for_every_message(sandbox: SlackSandbox) -> None:
    """When posting to the response_url raises, that message and the rest go ephemerally."""
    client = WebClient(token=sandbox.bot_token, base_url=sandbox.api_url, timeout=5)
    command = {"user_id": ALICE, "channel_id": OPS_CHANNEL, "response_url": closed_port_url()}
    send_replies(client, command, [Message("one"), *text_messages("two")])
    calls = sandbox.calls("chat.postEphemeral")
    assert [(c.args["channel"], c.args["user"], c.args["text"]) for c in calls] == [
        (OPS_CHANNEL, ALICE, "one"),
        (OPS_CHANNEL, ALICE, "two"),
    ]
    assert "blocks" not in calls[0].args and calls[1].args["blocks"]
    assert all(c.ok for c in calls)
