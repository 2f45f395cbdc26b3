"""``/epmpulse``: ack at once, run the sub-command, reply ephemerally via response_url."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.slack.commandline import COMMAND
from bot.slack.deps import SlackDeps

logger = logging.getLogger(__name__)


def register(app: App, deps: SlackDeps) -> None:
    """Register the ``/epmpulse`` listener."""

    @app.command(COMMAND)
    def epmpulse(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()
        started = time.perf_counter()
        user_id = command.get("user_id", "")
        context = deps.context_for(user_id, command.get("channel_id", ""))
        messages = deps.commands.handle(context, command.get("text", ""))
        for message in messages:
            response = respond(text=message.text, blocks=message.blocks, response_type="ephemeral")
            if response.status_code != 200:
                logger.warning(
                    "response_url refused a reply to %s: HTTP %s %s",
                    user_id,
                    response.status_code,
                    response.body,
                )
        logger.info(
            "%s %r by %s: %d message(s) in %.0f ms",
            COMMAND,
            (command.get("text") or "")[:80],
            user_id,
            len(messages),
            (time.perf_counter() - started) * 1000,
        )
