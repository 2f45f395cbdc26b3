"""``/epmpulse``: ack at once, run the sub-command, reply ephemerally (see ``replies``)."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.slack.commandline import COMMAND
from bot.slack.deps import SlackDeps
from bot.slack.listeners.errors import reported
from bot.slack.replies import send_replies

logger = logging.getLogger(__name__)


def register(app: App, deps: SlackDeps) -> None:
    """Register the ``/epmpulse`` listener."""

    @app.command(COMMAND)
    def epmpulse(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        ack()
        with reported(command, client):
            started = time.perf_counter()
            user_id = command.get("user_id", "")
            context = deps.context_for(user_id, command.get("channel_id", ""))
            messages = deps.commands.handle(context, command.get("text", ""))
            send_replies(client, command, messages)
            logger.info(
                "%s %r by %s: %d message(s) in %.0f ms",
                COMMAND,
                (command.get("text") or "")[:80],
                user_id,
                len(messages),
                (time.perf_counter() - started) * 1000,
            )
