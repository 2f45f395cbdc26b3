"""Sign-off clicks (SPEC §18): Approve, Reject (a modal asks why), from a message or App Home.

Each click is acked at once; the decision is the status service's
(:func:`bot.signoff.decide`), taken in one commit. A refusal (the requester, a
non-approver, a request decided or cancelled already) is a plain reply to the clicker
and changes nothing. The request message is brought up to date by the leader's outbox
(:mod:`bot.slack.signoff`), whichever instance took the click.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import signoff
from bot.errors import NotAllowedError, ValidationError
from bot.slack.deps import SlackDeps
from bot.slack.home import home_view
from bot.slack.listeners.errors import reported
from bot.slack.signoff import (
    APPROVE_ACTION,
    REASON_ACTION,
    REASON_BLOCK,
    REJECT_ACTION,
    REJECT_VIEW,
    parse_button_value,
    reject_modal,
)
from bot.slack.text import escape

logger = logging.getLogger(__name__)


def register(app: App, deps: SlackDeps) -> None:
    """Register the Approve and Reject buttons and the reason modal's submission."""

    @app.action(APPROVE_ACTION)
    def approve(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        with reported(body, client):
            user_id = body["user"]["id"]
            text = _approve(deps, user_id, str(action.get("value") or ""))
            _tell(body, client, respond, user_id, text)
            _refresh_home(body, client, deps, user_id)

    @app.action(REJECT_ACTION)
    def reject(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        with reported(body, client):
            user_id = body["user"]["id"]
            value = str(action.get("value") or "")
            try:
                app_name, domain, request_id = parse_button_value(value)
                record = signoff.check(
                    deps.service,
                    app_name,
                    domain,
                    request_id,
                    by=f"slack:{user_id}",
                    is_approver=deps.is_approver,
                )
            except (ValueError, ValidationError, NotAllowedError) as exc:
                _tell(body, client, respond, user_id, _refusal(exc))
                return
            client.views_open(trigger_id=body["trigger_id"], view=reject_modal(value, record))

    @app.view(REJECT_VIEW)
    def submit_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        reason = (
            view["state"]["values"].get(REASON_BLOCK, {}).get(REASON_ACTION, {}).get("value") or ""
        )
        try:
            app_name, domain, request_id = parse_button_value(view.get("private_metadata", ""))
            signoff.decide(
                deps.service,
                app_name,
                domain,
                request_id,
                by=f"slack:{user_id}",
                approve=False,
                is_approver=deps.is_approver,
                reason=reason,
            )
        except (ValueError, ValidationError, NotAllowedError) as exc:
            ack(response_action="errors", errors={REASON_BLOCK: _refusal(exc, plain=True)})
            return
        ack()
        logger.info("sign-off of %s/%s rejected by %s", app_name, domain, user_id)


def _approve(deps: SlackDeps, user_id: str, value: str) -> str:
    try:
        app_name, domain, request_id = parse_button_value(value)
        change = signoff.decide(
            deps.service,
            app_name,
            domain,
            request_id,
            by=f"slack:{user_id}",
            approve=True,
            is_approver=deps.is_approver,
        )
    except (ValueError, ValidationError, NotAllowedError) as exc:
        return _refusal(exc)
    new = change.new
    logger.info("sign-off of %s/%s approved by %s", new.app, new.domain, user_id)
    return (
        f":white_check_mark: You signed off *{escape(new.app)} / {escape(new.domain)}*: "
        f"it is now {new.status.emoji} *{new.status.value}*."
    )


def _refusal(exc: Exception, *, plain: bool = False) -> str:
    if isinstance(exc, ValueError) and not isinstance(exc, ValidationError):
        text = "This button does not name a sign-off request."
    else:
        text = str(exc)
    if plain:
        return text
    icon = ":no_entry:" if isinstance(exc, NotAllowedError) else ":warning:"
    return f"{icon} {escape(text)}"


def _tell(
    body: dict[str, Any], client: WebClient, respond: Respond, user_id: str, text: str
) -> None:
    """Answer the clicker only: ephemerally under the message, or in their DM from App Home."""
    if body.get("response_url"):
        respond(text=text, response_type="ephemeral", replace_original=False)
    else:
        client.chat_postMessage(channel=user_id, text=text)


def _refresh_home(body: dict[str, Any], client: WebClient, deps: SlackDeps, user_id: str) -> None:
    container = body.get("container") or {}
    if container.get("type") == "view" and (body.get("view") or {}).get("type") == "home":
        view = home_view(deps.service, **deps.home_options(user_id))
        client.views_publish(user_id=user_id, view=view)
