"""The one error boundary: log with the traceback, show the user a short apology."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.errors import StoreError
from bot.slack.blocks import Message
from bot.slack.deps import SlackDeps
from bot.slack.modal import MESSAGE_BLOCK
from bot.slack.replies import send_replies
from bot.store.health import nothing_saved

logger = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on our side. It has been logged; please try again."


def describe(body: dict[str, Any]) -> str:
    """A short name for the request, e.g. ``/epmpulse`` or ``view_submission``."""
    if "command" in body:
        return str(body["command"])
    event = body.get("event") or {}
    return str(event.get("type") or body.get("type") or "request")


def user_of(body: dict[str, Any]) -> str | None:
    """The user who made the request, if the payload names one."""
    user = body.get("user")
    if isinstance(user, dict):
        return user.get("id")
    return body.get("user_id") or (body.get("event") or {}).get("user")


def register(app: App, deps: SlackDeps) -> None:
    """Register the error boundary."""

    @app.error
    def on_error(
        error: Exception,
        body: dict[str, Any],
        respond: Respond | None,
        client: WebClient,
        response: BoltResponse | None,
    ) -> BoltResponse | None:
        user = user_of(body)
        logger.error("Slack %s by %s failed", describe(body), user, exc_info=error)
        # A failed write is no bug of ours: say plainly that nothing was saved, and why.
        text = nothing_saved(error) if isinstance(error, StoreError) else APOLOGY
        if body.get("type") == "view_submission" and response is not None:
            # Not acked yet: keep the form open and say so on it.
            return BoltResponse(
                status=200,
                body={"response_action": "errors", "errors": {MESSAGE_BLOCK: text}},
            )
        try:
            if "command" in body:  # slash commands carry no "type"
                send_replies(client, body, [Message(text)])
            elif respond is not None and respond.response_url:
                respond(text=text, response_type="ephemeral", replace_original=False)
            elif user and body.get("type") in ("shortcut", "block_actions", "view_submission"):
                client.chat_postMessage(channel=user, text=text)
        except (SlackClientError, OSError):
            logger.warning("could not send the apology to %s", user, exc_info=True)
        return None
