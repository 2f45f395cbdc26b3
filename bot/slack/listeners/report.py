"""The App Home *Send me the report* button: the close report in the user's DM."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.deps import SlackDeps
from bot.slack.listeners.clicks import Click, on_click
from bot.slack.report import REPORT_ACTION, send_report_to_user


def register(app: App, deps: SlackDeps) -> None:
    """Register the report button listener."""

    @on_click(app, REPORT_ACTION)
    def send_report(click: Click) -> None:
        send_report_to_user(click.client, deps.service, click.user_id, click.value or None)
