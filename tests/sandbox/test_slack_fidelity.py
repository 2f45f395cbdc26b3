"""The Slack sandbox answers channels, messages and views the way Slack does.

Compared with the responses Slack records in its SDK samples: unknown channel ids are
refused, names are accepted only where Slack takes them, posted messages carry
``app_id`` and ``bot_profile``, and views carry ``submit_disabled``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import SectionBlock
from slack_sdk.models.views import View

from bot.sandbox.slack import DEFAULT_CHANNEL_ID, SlackSandbox

DOCUMENT = {"document_content": {"type": "markdown", "markdown": "# board"}}


@pytest.fixture
def sandbox() -> Iterator[SlackSandbox]:
    """A fresh sandbox with a public #ops, a private #finance with the bot, and one without."""
    with SlackSandbox() as running:
        running.add_channel("C0OPS", "ops")
        running.add_channel("G0FINANCE", "finance", private=True)
        running.add_channel("G0SECRET", "secret", private=True, member=False)
        yield running


def error_of(call: object, **kwargs: object) -> str:
    """The Slack error code of a call that must fail."""
    with pytest.raises(SlackApiError) as caught:
        call(**kwargs)  # type: ignore[operator]
    return str(caught.value.response["error"])


def test_a_well_formed_but_unknown_channel_id_is_not_found(client: WebClient) -> None:
    """C0NOSUCH looks like an id; Slack still answers channel_not_found everywhere."""
    assert error_of(client.conversations_info, channel="C0NOSUCH") == "channel_not_found"
    assert error_of(client.chat_postMessage, channel="C0NOSUCH", text="x") == "channel_not_found"
    assert (
        error_of(client.conversations_canvases_create, channel_id="C0NOSUCH", **DOCUMENT)
        == "channel_not_found"
    )


def test_a_private_channel_without_the_bot_is_not_found(client: WebClient) -> None:
    """Until the bot is invited, a private channel does not exist for it."""
    assert error_of(client.conversations_info, channel="G0SECRET") == "channel_not_found"
    assert error_of(client.chat_postMessage, channel="secret", text="x") == "channel_not_found"
    info = client.conversations_info(channel="G0FINANCE")["channel"]
    assert (info["name"], info["is_private"], info["is_member"]) == ("finance", True, True)


def test_chat_post_message_accepts_a_channel_name_and_answers_its_id(client: WebClient) -> None:
    """``general`` and ``#ops`` are resolved to their ids, as Slack does for chat.postMessage."""
    assert client.chat_postMessage(channel="general", text="x")["channel"] == DEFAULT_CHANNEL_ID
    assert client.chat_postMessage(channel="#ops", text="x")["channel"] == "C0OPS"
    assert error_of(client.chat_postMessage, channel="#nowhere", text="x") == "channel_not_found"


def test_conversations_info_wants_an_id_not_a_name(client: WebClient) -> None:
    """conversations.info and the channel canvas take ids only; a name is channel_not_found."""
    assert error_of(client.conversations_info, channel="general") == "channel_not_found"
    assert (
        error_of(client.conversations_canvases_create, channel_id="general", **DOCUMENT)
        == "channel_not_found"
    )
    assert client.conversations_info(channel=DEFAULT_CHANNEL_ID)["channel"]["name"] == "general"


def test_a_posted_message_carries_app_id_and_bot_profile(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """The message Slack echoes names the app and the bot's profile."""
    message = client.chat_postMessage(channel="C0OPS", text="hello")["message"]
    ident = sandbox.identity
    assert message["app_id"] == ident.app_id
    profile = message["bot_profile"]
    assert (profile["id"], profile["app_id"], profile["team_id"]) == (
        ident.bot_id,
        ident.app_id,
        ident.team_id,
    )
    assert profile["deleted"] is False and profile["name"]


def test_a_view_says_whether_its_submit_button_is_disabled(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """views.open and views.publish answer ``submit_disabled`` (false unless asked)."""
    modal = View(type="modal", title="Update", blocks=[SectionBlock(text="x")])
    opened = client.views_open(trigger_id=sandbox.issue_trigger(), view=modal)["view"]
    assert opened["submit_disabled"] is False
    home = View(type="home", blocks=[SectionBlock(text="board")])
    published = client.views_publish(user_id="U0ALICE", view=home)["view"]
    assert published["submit_disabled"] is False


def test_add_channel_refuses_what_is_not_a_channel_id(sandbox: SlackSandbox) -> None:
    """A name or a DM id cannot be created as a channel."""
    for bad in ("general", "D0ALICE"):
        with pytest.raises(ValueError, match="not a channel id"):
            sandbox.add_channel(bad, "x")
