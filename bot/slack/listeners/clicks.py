"""How every button and select listener is registered: acked at once, failures reported.

A handler decorated with :func:`on_click` receives one :class:`Click` and does only its
own work; the ack and the error boundary (:func:`~bot.slack.listeners.errors.reported`)
are here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.slack.listeners.errors import reported

ClickHandler = Callable[["Click"], None]


@dataclass(frozen=True)
class Click:
    """One block action, acknowledged already: the payload, the action and the clients."""

    body: dict[str, Any]
    action: dict[str, Any]
    client: WebClient
    respond: Respond

    @property
    def user_id(self) -> str:
        """Who clicked."""
        return str(self.body["user"]["id"])

    @property
    def value(self) -> str:
        """The button's value ("" without one)."""
        return str(self.action.get("value") or "")


def on_click(app: App, action_id: str) -> Callable[[ClickHandler], ClickHandler]:
    """Register the decorated handler for ``action_id``: ack first, then the handler."""

    def register(handler: ClickHandler) -> ClickHandler:
        def clicked(
            ack: Ack,
            body: dict[str, Any],
            action: dict[str, Any],
            client: WebClient,
            respond: Respond,
        ) -> None:
            ack()
            with reported(body, client):
                handler(Click(body, action, client, respond))

        clicked.__name__ = handler.__name__  # Bolt names the listener in its logs
        app.action(action_id)(clicked)
        return handler

    return register
