"""The close in Slack (SPEC §11): a record's deadline and waits, the close summary.

mrkdwn lines, escaped, with dates every reader sees in their own timezone; the
``/epmpulse close [PERIOD]`` sub-command (:data:`CLOSE_SUBCOMMAND`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.close.archive import archive_outcome, archived_time, find_archive, no_archive_error
from bot.close.calendar import CloseCalendar
from bot.close.conductor import shown
from bot.close.live import CloseRecord, CloseSummary, DomainClose
from bot.errors import ValidationError
from bot.model import Status
from bot.slack.blocks import Message, text_messages
from bot.slack.commandline import CommandContext, SubCommand, UsageError
from bot.slack.holds import conductor_lines
from bot.slack.mrkdwn import escape, slack_date, status_label

LISTED_MAX = 10  # overdue and waiting domains named in a summary; the rest are counted


def slack_record_lines(calendar: CloseCalendar, record: CloseRecord) -> list[str]:
    """mrkdwn lines for one record: deadline, overdue, and what it waits on."""
    lines = []
    rule = calendar.deadline((record.app, record.domain))
    if rule is not None and record.due_at is not None:
        flag = " · :rotating_light: *overdue*" if record.overdue else ""
        lines.append(f"Due {rule.label} ({slack_date(record.due_at)}){flag}")
    if record.waiting_on:
        lines.append(f":hourglass: Waiting on {escape(', '.join(record.waiting_on))}")
    return lines


def summary_lines(summary: CloseSummary) -> list[str]:
    """The close summary as mrkdwn: period, working day, n of m OK, overdue, waiting, next."""
    lines = [
        f"*Close of {summary.period}* · working day {summary.working_day} "
        f"({escape(summary.timezone)}) · *{summary.ok} of {summary.total} OK*"
    ]
    overdue = summary.overdue
    if overdue:
        lines.append(f":rotating_light: *Overdue ({len(overdue)})*")
        lines.extend(f"• {_domain(d)} — due {_due(d)}" for d in overdue[:LISTED_MAX])
        lines.extend(_more(len(overdue)))
    else:
        lines.append(":white_check_mark: Nothing overdue.")
    waiting = summary.waiting
    if waiting:
        lines.append(f":hourglass: *Waiting ({len(waiting)})*")
        lines.extend(
            f"• {_domain(d)} — waits on {escape(', '.join(d.waiting_on))}"
            for d in waiting[:LISTED_MAX]
        )
        lines.extend(_more(len(waiting)))
    upcoming = summary.next_deadlines()
    if upcoming:
        lines.append("*Next deadlines*")
        lines.extend(f"• {_domain(d)} — {_due(d)}" for d in upcoming)
    elif not overdue:
        lines.append("No deadline ahead in this close.")
    return lines


def _more(count: int) -> list[str]:
    """A line for what a short summary leaves out."""
    if count <= LISTED_MAX:
        return []
    return [f"_… and {count - LISTED_MAX} more (`GET /api/v1/close` lists every domain)_"]


def _domain(d: DomainClose) -> str:
    return f"{status_label(d.status)} *{escape(d.name)}*"


def _due(d: DomainClose) -> str:
    label = d.deadline.label if d.deadline is not None else ""
    when = slack_date(d.due_at) if d.due_at is not None else ""
    return f"{label} ({when})" if label else when


def archive_lines(archive: Mapping[str, Any]) -> list[str]:
    """An archived close as mrkdwn: n of m OK, then each late domain."""
    ok, total, late = archive_outcome(archive)
    lines = [f"*Close of {escape(str(archive.get('period')))}* (archived) · *{ok} of {total} OK*"]
    if late:
        lines.append(f":rotating_light: *Late ({len(late)})*")
        for d in late:
            status = _status(d.get("status"))
            ok_at = archived_time(d.get("ok_at"))
            when = f"OK at {slack_date(ok_at)}" if ok_at else "never OK"
            due = archived_time(d.get("due_at"))
            due_text = f", due {slack_date(due)}" if due else ""
            lines.append(
                f"• {status_label(status)} *{escape(str(d.get('app')))}/"
                f"{escape(str(d.get('domain')))}* — {when}{due_text}"
            )
    else:
        lines.append(":white_check_mark: Nothing was late.")
    return lines


def _status(value: object) -> Status:
    try:
        return Status(str(value))
    except ValueError:
        return Status.PENDING


def close_command(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """``/epmpulse close [PERIOD]``: the close running now, or an archived one."""
    tracker = ctx.service.close
    summary = tracker.summary()
    if not args or args[0].strip() == summary.period:
        return text_messages(
            *summary_lines(summary), *conductor_lines(shown(ctx.service, ctx.estate))
        )
    meta = ctx.service.store.snapshot().meta
    try:
        period, archive = find_archive(meta, args[0])
    except ValidationError as exc:
        raise UsageError(escape(str(exc))) from exc
    if archive is None:
        if period == summary.period:
            return text_messages(*summary_lines(summary))
        raise no_archive_error(meta, period, summary.period)
    return text_messages(*archive_lines(archive))


CLOSE_SUBCOMMAND = SubCommand(
    "close",
    "[PERIOD]",
    "the close summary: deadlines, overdue, waiting (or an archived close)",
    close_command,
)
