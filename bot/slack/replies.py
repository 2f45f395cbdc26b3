"""Replies to a slash command: through its response_url, else with ``chat.postEphemeral``.

Slack sends a ``response_url`` with every slash command, but it may be missing (a
proxy, an emulator) or stop working (it expires after 30 minutes and five uses, and
the post may fail on the network). Each message goes to the response_url while it
accepts them; from the first missing or failed post on (an exception or a non-2xx
answer), that message and the rest go to ``chat.postEphemeral``: the same ephemeral
reply, to the same user, in the command's channel, one call per message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.slack.blocks import Message
from bot.slack.client import TIMEOUT_SECONDS, WEB_API_ERRORS

logger = logging.getLogger(__name__)

# What a post to a response_url may raise: what any Slack call may (see WEB_API_ERRORS),
# and a ValueError or SlackRequestError for a malformed URL.
RESPONSE_URL_ERRORS = (*WEB_API_ERRORS, ValueError)


def send_replies(
    client: WebClient,
    command: Mapping[str, Any],
    messages: Sequence[Message],
    *,
    timeout: int = TIMEOUT_SECONDS,
) -> None:
    """Show ``messages`` to the user who sent ``command`` (a slash-command payload).

    A failing ``chat.postEphemeral`` raises ``SlackApiError`` for the error boundary.
    """
    user_id = str(command.get("user_id") or "")
    url = command.get("response_url")
    webhook = WebhookClient(url, timeout=timeout) if isinstance(url, str) and url else None
    if webhook is None:
        logger.info("no response_url for %s; replying with chat.postEphemeral", user_id)
    for message in messages:
        if webhook is not None and _post(webhook, message, user_id):
            continue
        webhook = None  # a refused or broken response_url is not tried again
        client.chat_postEphemeral(
            channel=str(command.get("channel_id") or ""),
            user=user_id,
            text=message.text,
            blocks=message.blocks or None,
        )


def _post(webhook: WebhookClient, message: Message, user_id: str) -> bool:
    """Post one message to the response_url; whether it was accepted."""
    try:
        response = webhook.send(
            text=message.text, blocks=message.blocks or None, response_type="ephemeral"
        )
    except RESPONSE_URL_ERRORS as exc:
        logger.warning(
            "response_url failed for a reply to %s (%s); using chat.postEphemeral", user_id, exc
        )
        return False
    if not 200 <= response.status_code < 300:
        logger.warning(
            "response_url refused a reply to %s: HTTP %s %s; using chat.postEphemeral",
            user_id,
            response.status_code,
            str(response.body)[:200],
        )
        return False
    return True
