"""Sign-off in Slack (SPEC §18): the request message, its buttons, the reason modal.

:func:`request_message` is the message the leader posts to ``SLACK_CHANNEL_ID`` for each
request (:mod:`bot.slack.signoff_outbox` sends it): the domain, who asked and their
message, and **Approve** / **Reject** buttons while it is pending; once decided or
cancelled, the same message (updated in place) says who decided what and when, so the
channel reads as the log. App Home shows an approver the same buttons
(:func:`waiting_blocks`); the clicks are handled in :mod:`bot.slack.listeners.signoff`.
"""

from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
)
from slack_sdk.models.views import View

from bot.model import MESSAGE_LIMIT, DomainRecord
from bot.service import StatusService
from bot.signoff import APPROVED, CANCELLED, PENDING, REJECTED, Request
from bot.slack.blocks import Message, mrkdwn
from bot.slack.mrkdwn import author, escape, slack_date

APPROVE_ACTION = "signoff_approve"
REJECT_ACTION = "signoff_reject"
REJECT_VIEW = "signoff_reject_reason"
REASON_BLOCK = "signoff_reason"
REASON_ACTION = "reason"
ACTIONS_BLOCK_PREFIX = "signoff_actions_"

_VERBS = {APPROVED: "approved", REJECTED: "rejected", CANCELLED: "cancelled"}
_ICONS = {
    PENDING: ":hourglass_flowing_sand:",
    APPROVED: ":white_check_mark:",
    REJECTED: ":x:",
    CANCELLED: ":heavy_minus_sign:",
}


def button_value(app: str, domain: str, request_id: str) -> str:
    """What an Approve/Reject button carries: the domain and the request it decides."""
    return json.dumps({"app": app, "domain": domain, "id": request_id}, separators=(",", ":"))


def parse_button_value(value: str) -> tuple[str, str, str]:
    """``(app, domain, request id)`` from a button value; ValueError when it is not one."""
    data = json.loads(value)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in _KEYS):
        raise ValueError(f"not a sign-off button value: {value!r}")
    return data["app"], data["domain"], data["id"]


_KEYS = ("app", "domain", "id")


def decision_buttons(app: str, domain: str, request_id: str) -> ActionsBlock:
    """The Approve and Reject buttons of one request."""
    value = button_value(app, domain, request_id)
    return ActionsBlock(
        block_id=ACTIONS_BLOCK_PREFIX + request_id,
        elements=[
            ButtonElement(text="Approve", action_id=APPROVE_ACTION, value=value, style="primary"),
            ButtonElement(text="Reject", action_id=REJECT_ACTION, value=value, style="danger"),
        ],
    )


def request_message(request: Request) -> Message:
    """The channel message of ``request``: with buttons while pending, the decision after."""
    name = f"{escape(request.app)} / {escape(request.domain)}"
    asked = (
        f"{_ICONS[request.state]} *{name}*: {author(request.by)} asks to set "
        f":large_green_circle: *OK* (now {request.old_status.value})"
    )
    lines = [asked]
    if request.message:
        lines.append(f"> {escape(request.message.replace(chr(10), ' '))}")
    blocks: list[Block] = [mrkdwn("\n".join(lines))]
    context = f"Four-eyes sign-off · asked {slack_date(request.at)}"
    if request.state == PENDING:
        blocks.append(decision_buttons(request.app, request.domain, request.id))
        text = f"{request.app} / {request.domain}: OK awaiting approval"
    else:
        verb = _VERBS[request.state]
        when = slack_date(request.decided_at) if request.decided_at else ""
        decision = f"*{verb.capitalize()}* by {author(request.decided_by or 'system')} {when}"
        if request.state == CANCELLED:
            decision = (
                f"*Cancelled*: another change by {author(request.decided_by or 'system')} {when}"
            )
        if request.reason:
            decision += f": {escape(request.reason.replace(chr(10), ' '))}"
        blocks.append(mrkdwn(decision.strip()))
        text = f"{request.app} / {request.domain}: OK {verb}"
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=context)]))
    return Message(text, blocks)


def rejection_dm(request: Request) -> Message:
    """The requester's DM: their OK was rejected, by whom, and why."""
    text = (
        f":x: Your OK for *{escape(request.app)} / {escape(request.domain)}* was rejected by "
        f"{author(request.decided_by or 'system')}: {escape(request.reason)}. "
        f"The status stays {request.old_status.value}."
    )
    return Message(f"Your OK for {request.app} / {request.domain} was rejected", [mrkdwn(text)])


def awaiting_dm(records: list[DomainRecord]) -> Message:
    """Tells who submitted the update modal that their OKs wait for sign-off."""
    names = ", ".join(f"*{escape(r.app)} / {escape(r.domain)}*" for r in records)
    text = (
        f":hourglass_flowing_sand: OK awaiting approval for {names}: a sign-off approver "
        "other than you must approve it; until then the status stays as it was."
    )
    return Message("OK awaiting approval", [mrkdwn(text)])


def reject_modal(value: str, record: DomainRecord) -> View:
    """The modal asking an approver why they reject; ``value`` names the request."""
    return View(
        type="modal",
        callback_id=REJECT_VIEW,
        private_metadata=value,
        title=PlainTextObject(text="Reject sign-off"),
        submit=PlainTextObject(text="Reject"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            mrkdwn(f"Reject the OK for *{escape(record.app)} / {escape(record.domain)}*?"),
            InputBlock(
                block_id=REASON_BLOCK,
                label=PlainTextObject(text="Reason (sent to the requester)"),
                element=PlainTextInputElement(
                    action_id=REASON_ACTION, multiline=True, max_length=MESSAGE_LIMIT
                ),
            ),
        ],
    )


def waiting_blocks(service: StatusService, user_id: str) -> list[Block]:
    """App Home for an approver: every request waiting for them (not their own)."""
    waiting = [
        r
        for records in service.board().values()
        for r in records
        if r.pending_approval is not None and r.pending_approval.by != f"slack:{user_id}"
    ]
    if not waiting:
        return [mrkdwn("*Waiting for your sign-off*\nNothing waits for you.")]
    blocks: list[Block] = [mrkdwn(f"*Waiting for your sign-off* ({len(waiting)})")]
    for record in waiting:
        pending = record.pending_approval
        assert pending is not None  # filtered above
        line = (
            f"*{escape(record.app)} / {escape(record.domain)}*: OK asked by "
            f"{author(pending.by)} {slack_date(pending.at)}"
        )
        if pending.message:
            line += f" · {escape(pending.message.replace(chr(10), ' '))}"
        blocks.append(mrkdwn(line))
        blocks.append(decision_buttons(record.app, record.domain, pending.id))
    return blocks
