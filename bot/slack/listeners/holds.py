"""The *Hold* button of the close conductor's announcements (SPEC §17)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.slack.deps import SlackDeps
from bot.slack.holds import HOLD_ACTION, hold_from_button
from bot.slack.listeners.errors import reported


def register(app: App, deps: SlackDeps) -> None:
    """Register the *Hold* button listener; the answer is ephemeral, to the clicker."""

    @app.action(HOLD_ACTION)
    def hold_button(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        with reported(body, client):
            user_id = body["user"]["id"]
            channel = (body.get("channel") or {}).get("id") or user_id
            value = str(action.get("value") or "")
            for message in hold_from_button(
                deps.service, deps.estate, deps.editors, user_id, value
            ):
                client.chat_postEphemeral(
                    channel=channel, user=user_id, text=message.text, blocks=message.blocks
                )
