"""The one error boundary: log with the traceback, show the user a short apology.

Bolt calls :func:`register`'s error handler for a listener that raises. A listener
that has acknowledged already wraps its work in :func:`reported` instead: Bolt's error
path then clears the acknowledgement it was about to send (slack_bolt 1.30,
``thread_runner``), so Slack would show the user an error of its own besides ours.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
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


def report_failure(
    error: Exception, body: dict[str, Any], client: WebClient, respond: Respond | None = None
) -> None:
    """Log ``error`` with its traceback and tell the user, briefly, that it failed."""
    user = user_of(body)
    logger.error("Slack %s by %s failed", describe(body), user, exc_info=error)
    try:
        text = failure_text(error)
        if "command" in body:  # slash commands carry no "type"
            send_replies(client, body, [Message(text)])
        elif respond is not None and respond.response_url:
            respond(text=text, response_type="ephemeral", replace_original=False)
        elif user and body.get("type") in ("shortcut", "block_actions", "view_submission"):
            client.chat_postMessage(channel=user, text=text)
    except (SlackClientError, OSError):
        logger.warning("could not send the apology to %s", user, exc_info=True)


def failure_text(error: Exception) -> str:
    """A failed write is no bug of ours: say plainly that nothing was saved, and why."""
    return nothing_saved(error) if isinstance(error, StoreError) else APOLOGY


@contextmanager
def reported(body: dict[str, Any], client: WebClient) -> Iterator[None]:
    """Around a listener's work after ``ack()``: a failure is reported, not raised."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - logged with its traceback, the user told
        report_failure(error, body, client)


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
        if body.get("type") == "view_submission" and response is not None:
            # Not acked yet: keep the form open and say so on it.
            logger.error("Slack %s by %s failed", describe(body), user_of(body), exc_info=error)
            errors = {MESSAGE_BLOCK: failure_text(error)}
            return BoltResponse(status=200, body={"response_action": "errors", "errors": errors})
        report_failure(error, body, client, respond)
        return None
