"""The *Hold* button of the close conductor's announcements (SPEC §17)."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.deps import SlackDeps
from bot.slack.holds import HOLD_ACTION, hold_from_button
from bot.slack.listeners.clicks import Click, on_click


def register(app: App, deps: SlackDeps) -> None:
    """Register the *Hold* button listener; the answer is ephemeral, to the clicker."""

    @on_click(app, HOLD_ACTION)
    def hold_button(click: Click) -> None:
        user_id = click.user_id
        channel = (click.body.get("channel") or {}).get("id") or user_id
        for message in hold_from_button(
            deps.service, deps.estate, deps.editors, user_id, click.value
        ):
            click.client.chat_postEphemeral(
                channel=channel, user=user_id, text=message.text, blocks=message.blocks
            )
