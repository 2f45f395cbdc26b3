"""Events API: publish the App Home tab when a user opens it."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.slack.deps import SlackDeps


def register(app: App, deps: SlackDeps) -> None:
    """Register the ``app_home_opened`` listener (Bolt acks events by itself)."""

    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        deps.publish_home(client, event["user"])
