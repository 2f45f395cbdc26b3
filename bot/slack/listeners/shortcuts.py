"""The ``epmpulse_update`` global shortcut: open the batch update modal."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.slack.deps import SlackDeps
from bot.slack.listeners.errors import reported
from bot.slack.modal import CALLBACK_ID, not_allowed_modal, update_modal

logger = logging.getLogger(__name__)


def open_update_modal(deps: SlackDeps, client: WebClient, trigger_id: str, user_id: str) -> None:
    """Open the update modal for ``user_id`` (a notice instead for non-editors)."""
    can_edit = deps.editors.is_editor(user_id)
    view = update_modal(deps.service) if can_edit else not_allowed_modal()
    client.views_open(trigger_id=trigger_id, view=view)
    logger.info("opened the update modal for %s (editor: %s)", user_id, can_edit)


def register(app: App, deps: SlackDeps) -> None:
    """Register the global shortcut."""

    @app.shortcut(CALLBACK_ID)
    def update_shortcut(ack: Ack, shortcut: dict[str, Any], client: WebClient) -> None:
        ack()
        with reported(shortcut, client):
            open_update_modal(deps, client, shortcut["trigger_id"], shortcut["user"]["id"])
