"""The App Home *Send me the report* button: the close report in the user's DM."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.slack.deps import SlackDeps
from bot.slack.listeners.errors import reported
from bot.slack.report import REPORT_ACTION, send_report_to_user


def register(app: App, deps: SlackDeps) -> None:
    """Register the report button listener."""

    @app.action(REPORT_ACTION)
    def send_report(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        with reported(body, client):
            period = action.get("value") or None
            send_report_to_user(client, deps.service, body["user"]["id"], period)
