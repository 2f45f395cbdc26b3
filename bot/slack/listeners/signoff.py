"""Sign-off clicks (SPEC §18): Approve, Reject (a modal asks why), from a message or App Home.

Each click is acked at once; the decision is the status service's
(:func:`bot.signoff.decide`), taken in one commit. A refusal (the requester, a
non-approver, a request decided or cancelled already) is a plain reply to the clicker
and changes nothing. The request message is brought up to date by the leader's outbox
(:mod:`bot.slack.signoff`), whichever instance took the click.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt import Ack, App

from bot import signoff
from bot.errors import NotAllowedError, ValidationError
from bot.slack.deps import SlackDeps
from bot.slack.listeners.clicks import Click, on_click
from bot.slack.mrkdwn import escape
from bot.slack.signoff import (
    APPROVE_ACTION,
    REASON_ACTION,
    REASON_BLOCK,
    REJECT_ACTION,
    REJECT_VIEW,
    parse_button_value,
    reject_modal,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
# A button naming no request (ValueError), or a refusal of the status service.
REFUSALS = (ValueError, ValidationError, NotAllowedError)


def register(app: App, deps: SlackDeps) -> None:
    """Register the Approve and Reject buttons and the reason modal's submission."""

    @on_click(app, APPROVE_ACTION)
    def approve(click: Click) -> None:
        _tell(click, _approve(deps, click.user_id, click.value))
        _refresh_home(click, deps)

    @on_click(app, REJECT_ACTION)
    def reject(click: Click) -> None:
        try:
            record = _on_request(signoff.check, deps, click.user_id, click.value)
        except REFUSALS as exc:
            _tell(click, _refusal(exc))
            return
        view = reject_modal(click.value, record)
        click.client.views_open(trigger_id=click.body["trigger_id"], view=view)

    @app.view(REJECT_VIEW)
    def submit_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        reason = (
            view["state"]["values"].get(REASON_BLOCK, {}).get(REASON_ACTION, {}).get("value") or ""
        )
        value = view.get("private_metadata", "")
        try:
            change = _on_request(signoff.decide, deps, user_id, value, approve=False, reason=reason)
        except REFUSALS as exc:
            ack(response_action="errors", errors={REASON_BLOCK: _refusal(exc, plain=True)})
            return
        ack()
        logger.info("sign-off of %s/%s rejected by %s", change.new.app, change.new.domain, user_id)


def _on_request(
    call: Callable[..., T], deps: SlackDeps, user_id: str, value: str, **decision: Any
) -> T:
    """``call`` (:func:`bot.signoff.check` or ``decide``) on the request ``value`` names."""
    app_name, domain, request_id = parse_button_value(value)
    return call(
        deps.service,
        app_name,
        domain,
        request_id,
        by=f"slack:{user_id}",
        is_approver=deps.is_approver,
        **decision,
    )


def _approve(deps: SlackDeps, user_id: str, value: str) -> str:
    try:
        change = _on_request(signoff.decide, deps, user_id, value, approve=True)
    except REFUSALS as exc:
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


def _tell(click: Click, text: str) -> None:
    """Answer the clicker only: ephemerally under the message, or in their DM from App Home."""
    if click.body.get("response_url"):
        click.respond(text=text, response_type="ephemeral", replace_original=False)
    else:
        click.client.chat_postMessage(channel=click.user_id, text=text)


def _refresh_home(click: Click, deps: SlackDeps) -> None:
    container = click.body.get("container") or {}
    if container.get("type") == "view" and (click.body.get("view") or {}).get("type") == "home":
        deps.publish_home(click.client, click.user_id)
