"""The ``/epmpulse`` sub-commands (SPEC §4): one function each, listed in SUBCOMMANDS.

To add a sub-command, write ``def name(ctx: CommandContext, args: Sequence[str]) ->
list[Message]`` and add ``SubCommand("name", "ARGS [OPTIONAL]", "what it does", name)``
to :data:`SUBCOMMANDS` (or pass it to :class:`~bot.slack.part.SlackPart` as an extra).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.epm import tracking
from bot.model import Status
from bot.slack import jobs
from bot.slack.blocks import (
    Message,
    Paragraph,
    board_paragraphs,
    history_lines,
    paragraph_blocks,
    text_messages,
    to_messages,
)
from bot.slack.close import CLOSE_SUBCOMMAND, slack_record_lines
from bot.slack.commandline import COMMAND, CommandContext, SubCommand, UsageError
from bot.slack.holds import HOLD_SUBCOMMANDS
from bot.slack.mrkdwn import escape, record_line, status_label

HISTORY_DEFAULT = 10
HISTORY_MAX = 100
RECENT_CHANGES = 5


def help_(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """Usage of every sub-command, and whether the caller may change statuses."""
    lines = ["*EPMPulse* shows where every EPM application stands in its close cycle."]
    lines += [f"`{s.usage}` — {s.summary}" for s in ctx.subcommands]
    lines.append(
        "Statuses: " + ", ".join(status_label(s) for s in Status) + ". "
        "Names are case-insensitive; put names with spaces in quotes."
    )
    if ctx.editors.is_editor(ctx.user_id):
        lines.append("You can change statuses, also with the *Update EPM status* shortcut.")
    else:
        lines.append("You can read statuses; changing them needs an EPMPulse editor.")
    return text_messages(*lines)


def status(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """The board, one app, one domain with its last changes, or (with STATUS) a change."""
    service = ctx.service
    if not args:
        blocks = paragraph_blocks(board_paragraphs(service.board()))
        return to_messages(blocks, "EPM status board", f"Ask for one app: `{COMMAND} status APP`.")
    if len(args) == 1:
        app = service.layout.resolve_app(args[0])
        blocks = paragraph_blocks(board_paragraphs({app: service.app_board(app)}))
        return to_messages(blocks, f"EPM status of {app}")
    if len(args) == 2:
        record = service.get(args[0], args[1])
        entries = service.history(record.app, record.domain, RECENT_CHANGES)
        close = slack_record_lines(service.close.calendar, service.close.show_one(record))
        paragraphs = [
            Paragraph(
                f"{record.status.emoji} {record.app} / {record.domain}",
                [record_line(record), *close],
            ),
            Paragraph(None, ["*Last changes*", *history_lines(entries)]),
        ]
        return to_messages(
            paragraph_blocks(paragraphs), f"{record.app} / {record.domain}: {record.status}"
        )
    return _set(ctx, args)


def _set(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    ctx.require_editor()
    app, domain, new_status, *message = args
    change = ctx.service.set(app, domain, new_status, " ".join(message), by=ctx.by)
    new = change.new
    if change.awaiting_approval:  # SPEC §18
        return text_messages(
            f":hourglass_flowing_sand: *{escape(new.app)} / {escape(new.domain)}*: OK awaiting "
            f"approval. It needs a sign-off approver other than you; the status stays "
            f"*{new.status.value}* until then.",
            record_line(new),
        )
    summary = (
        f"{new.status.emoji} *{escape(new.app)} / {escape(new.domain)}* is now "
        f"*{new.status.value}* (was {change.old.status.value})."
    )
    close = slack_record_lines(ctx.service.close.calendar, ctx.service.close.show_one(new))
    return text_messages(summary, record_line(new), *close)


def history(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """The last N changes of one domain, newest first."""
    limit = _count(args[2]) if len(args) > 2 else HISTORY_DEFAULT
    record = ctx.service.get(args[0], args[1])
    entries = ctx.service.history(record.app, record.domain, limit)
    heading = f"{record.app} / {record.domain}: last {len(entries)} change(s)"
    blocks = paragraph_blocks([Paragraph(heading, history_lines(entries))])
    return to_messages(blocks, heading)


def track(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """Set a domain to Loading and follow an EPM job until it ends (editors only)."""
    ctx.require_editor()
    app, domain, job_id, *server = args
    change = tracking.track(
        ctx.service, app, domain, job_id, server[0] if server else None, by=ctx.by
    )
    new = change.new
    summary = (
        f"{new.status.emoji} *{escape(new.app)} / {escape(new.domain)}* is now "
        f"*{new.status.value}*; EPMPulse sets the result when the job ends."
    )
    return text_messages(summary, record_line(new))


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= HISTORY_MAX:
        raise UsageError(f"N must be a whole number from 1 to {HISTORY_MAX}, not '{escape(text)}'.")
    return value


def subscribe(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """Follow an app or one domain: a direct message on every change."""
    app, domain = _target(ctx, args)
    target = app if domain is None else f"{app} / {domain}"
    if ctx.subscriptions.subscribe(ctx.user_id, app, domain):
        return text_messages(
            f":bell: Subscribed: you will get a direct message on every change of "
            f"*{escape(target)}*."
        )
    return text_messages(f"You are already subscribed to *{escape(target)}*.")


def unsubscribe(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """Stop following an app or domain."""
    app, domain = _target(ctx, args)
    target = app if domain is None else f"{app} / {domain}"
    if ctx.subscriptions.unsubscribe(ctx.user_id, app, domain):
        return text_messages(f":no_bell: Unsubscribed from *{escape(target)}*.")
    mine = [s.target for s in ctx.subscriptions.of_user(ctx.user_id)]
    current = ", ".join(escape(t) for t in mine) if mine else "none"
    return text_messages(
        f"You are not subscribed to *{escape(target)}*. Your subscriptions: {current}."
    )


def _target(ctx: CommandContext, args: Sequence[str]) -> tuple[str, str | None]:
    layout = ctx.service.layout
    if len(args) == 1:
        return layout.resolve_app(args[0]), None
    return layout.resolve_domain(args[0], args[1])


def refresh(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """Ask the canvas publisher to rebuild the canvas now."""
    if ctx.on_refresh is None:
        return text_messages(
            "This EPMPulse process does not maintain a canvas, so there is nothing to refresh."
        )
    ctx.on_refresh()
    return text_messages(":arrows_counterclockwise: Canvas refresh requested; it updates shortly.")


SUBCOMMANDS: tuple[SubCommand, ...] = (
    SubCommand("help", "", "this help", help_),
    SubCommand(
        "status",
        "[APP [DOMAIN [STATUS [MESSAGE…]]]]",
        "show the board, an app or a domain; with STATUS, change it (editors)",
        status,
    ),
    SubCommand(
        "history", "APP DOMAIN [N]", f"the last N changes (default {HISTORY_DEFAULT})", history
    ),
    SubCommand(
        "track", "APP DOMAIN JOB_ID [SERVER]", "set Loading and follow an EPM job (editors)", track
    ),
    SubCommand("run", "APP DOMAIN", "start the domain's EPM job and follow it (editors)", jobs.run),
    *HOLD_SUBCOMMANDS,
    SubCommand("subscribe", "APP [DOMAIN]", "a direct message on every change", subscribe),
    SubCommand("unsubscribe", "APP [DOMAIN]", "stop those direct messages", unsubscribe),
    SubCommand("refresh", "", "rebuild the canvas now", refresh),
    CLOSE_SUBCOMMAND,
)
