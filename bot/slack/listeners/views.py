"""The update modal's submission: validate, apply as one batch, or answer with errors."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.errors import NotAllowedError, ValidationError
from bot.slack.deps import SlackDeps
from bot.slack.listeners.errors import reported
from bot.slack.modal import CALLBACK_ID, MESSAGE_BLOCK, read_submission
from bot.slack.signoff import awaiting_dm

logger = logging.getLogger(__name__)


def register(app: App, deps: SlackDeps) -> None:
    """Register the view submission listener."""

    # A submission is acked last: errors must travel in the ack, and acking after the
    # durable write lets a failure still be shown on the form.
    @app.view(CALLBACK_ID)
    def submit_update(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        user_id = body["user"]["id"]
        try:
            deps.editors.require(user_id)
        except NotAllowedError as exc:
            ack(response_action="errors", errors={MESSAGE_BLOCK: str(exc)})
            return
        updates, errors = read_submission(deps.service.layout, view)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        try:
            changes = deps.service.set_many(updates, by=f"slack:{user_id}")
        except ValidationError as exc:
            ack(response_action="errors", errors={MESSAGE_BLOCK: str(exc)})
            return
        ack()
        logger.info("modal by %s applied %d change(s)", user_id, len(changes))
        waiting = [c.new for c in changes if c.awaiting_approval]
        if waiting:  # the modal is closed: say in a DM that these OKs wait (SPEC §18)
            with reported(body, client):
                message = awaiting_dm(waiting)
                client.chat_postMessage(channel=user_id, text=message.text, blocks=message.blocks)
