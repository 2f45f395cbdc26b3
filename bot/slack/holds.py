"""The close conductor in Slack (SPEC §17): its channel messages and the human veto.

- :func:`announcement` — "Starting <job> for APP/DOMAIN in N min" with a *Hold* button;
- ``/epmpulse hold APP DOMAIN`` and ``/epmpulse release APP DOMAIN`` (editors);
- :func:`hold_from_button` — what the *Hold* button does (its listener is in
  :mod:`bot.slack.listeners.holds`).

The messages are built here with ``slack_sdk.models``; the decisions are made by
:mod:`bot.close.holds` and the leader's :mod:`bot.close.conducting`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject, PlainTextObject

from bot.close import holds
from bot.close.conductor import Plan
from bot.errors import NotAllowedError, ValidationError
from bot.service import StatusService
from bot.slack.blocks import Message, mrkdwn, text_messages
from bot.slack.commandline import COMMAND, CommandContext, SubCommand
from bot.slack.editors import Editors
from bot.slack.mrkdwn import escape, slack_date

if TYPE_CHECKING:
    from bot.estate import Estate

logger = logging.getLogger(__name__)

HOLD_ACTION = "hold_auto_start"


def announcement(job: str, name: str, due_at: datetime, minutes: int) -> Message:
    """The channel message before an automatic start: what, when, and a *Hold* button."""
    app, domain = name.split("/", 1)
    what = f"*{escape(job)}* for *{escape(app)} / {escape(domain)}*"
    if minutes <= 0:
        text = f":arrow_forward: Starting {what} now: everything it waits on is OK."
        return Message(text, [mrkdwn(text)])
    text = (
        f":hourglass_flowing_sand: Starting {what} in {minutes} min ({slack_date(due_at)}): "
        f"everything it waits on is OK. Hold it with the button or `{COMMAND} hold {app} "
        f"{domain}`."
    )
    button = ButtonElement(
        text=PlainTextObject(text="Hold"),
        action_id=HOLD_ACTION,
        value=name,
        style="danger",
        confirm=ConfirmObject(
            title="Hold this start?",
            text=f"{job} will not start by itself until someone releases it.",
            confirm="Hold",
            deny="Cancel",
        ),
    )
    return Message(text, [mrkdwn(text), ActionsBlock(elements=[button])])


def failed_notice(job: str, name: str, detail: str) -> Message:
    """The channel message when a job the conductor started did not succeed."""
    app, domain = name.split("/", 1)
    text = (
        f":red_circle: *{escape(job)}* for *{escape(app)} / {escape(domain)}*, started by "
        f"EPMPulse, {escape(detail)}. It is not restarted automatically: check it in EPM, then "
        f"start it again with `{COMMAND} run {app} {domain}`."
    )
    return Message(text, [mrkdwn(text)])


def disputed_notice(text: str) -> Message:
    """The one channel alert of a dispute (SPEC §17 cross-check)."""
    line = f":warning: {escape(text)}. The next change of the domain clears this."
    return Message(line, [mrkdwn(line)])


def hold_command(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """``/epmpulse hold APP DOMAIN`` (editors)."""
    ctx.require_editor()
    return _reply(holds.hold(ctx.service, ctx.estate, args[0], args[1], by=ctx.by))


def release_command(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """``/epmpulse release APP DOMAIN`` (editors)."""
    ctx.require_editor()
    return _reply(holds.release(ctx.service, ctx.estate, args[0], args[1], by=ctx.by))


def _reply(result: holds.HoldResult) -> list[Message]:
    where = f"*{escape(result.app)} / {escape(result.domain)}*"
    if result.held:
        head = "is now held" if result.changed else "was already held"
        return text_messages(
            f":raised_hand: {where} {head}: its job does not start by itself in the close of "
            f"{result.period}. Undo with `{COMMAND} release {result.app} {result.domain}`."
        )
    if not result.changed:
        return text_messages(f"{where} was not held; nothing changed.")
    return text_messages(
        f":arrow_forward: {where} is released: its job starts by itself once everything it "
        "waits on is OK and its delay has passed (at once if that time has come)."
    )


def hold_from_button(
    service: StatusService, estate: Estate | None, editors: Editors, user_id: str, value: str
) -> list[Message]:
    """The *Hold* button of an announcement (value ``APP/DOMAIN``): editors only."""
    app, _, domain = value.partition("/")
    try:
        editors.require(user_id)
        result = holds.hold(service, estate, app, domain, by=f"slack:{user_id}")
    except ValidationError as exc:
        return text_messages(f":warning: {escape(str(exc))}")
    except NotAllowedError as exc:
        return text_messages(f":no_entry: {escape(str(exc))}")
    logger.info("Hold button by %s for %s", user_id, value)
    return _reply(result)


HOLD_SUBCOMMANDS = (
    SubCommand(
        "hold",
        "APP DOMAIN",
        "stop a job from starting by itself this close (editors)",
        hold_command,
    ),
    SubCommand(
        "release", "APP DOMAIN", "let a held job start by itself again (editors)", release_command
    ),
)


def conductor_lines(shown: Sequence[Plan]) -> list[str]:
    """Scheduled starts and holds as mrkdwn lines (``/epmpulse close``, App Home)."""
    if not shown:
        return []
    lines = [f":arrow_forward: *Automatic starts ({len(shown)})*"]
    for plan in shown:
        what = f"*{escape(plan.name)}* ({escape(plan.job)})"
        if plan.hold is not None:
            by = escape(str(plan.hold.get("by", "")))
            when = f", due {slack_date(plan.due_at)}" if plan.due_at is not None else ""
            lines.append(
                f"• :raised_hand: {what} — held by {by}{when}; "
                f"`{COMMAND} release {plan.key[0]} {plan.key[1]}`"
            )
        elif plan.due_at is not None:
            lines.append(f"• {what} — starts {slack_date(plan.due_at)}")
    return lines
