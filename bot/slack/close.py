"""The close in Slack (SPEC §11): a record's deadline and waits, the close summary.

mrkdwn lines, escaped, with dates every reader sees in their own timezone. Nothing
here reads a clock: everything comes from the records and summaries given.
"""

from __future__ import annotations

from bot.close.calendar import CloseCalendar
from bot.close.live import CloseRecord, CloseSummary, DomainClose
from bot.slack.text import escape, slack_date, status_label


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
        lines.extend(f"• {_domain(d)} — due {_due(d)}" for d in overdue)
    else:
        lines.append(":white_check_mark: Nothing overdue.")
    waiting = summary.waiting
    if waiting:
        lines.append(f":hourglass: *Waiting ({len(waiting)})*")
        lines.extend(
            f"• {_domain(d)} — waits on {escape(', '.join(d.waiting_on))}" for d in waiting
        )
    upcoming = summary.next_deadlines()
    if upcoming:
        lines.append("*Next deadlines*")
        lines.extend(f"• {_domain(d)} — {_due(d)}" for d in upcoming)
    elif not overdue:
        lines.append("No deadline ahead in this close.")
    return lines


def _domain(d: DomainClose) -> str:
    return f"{status_label(d.status)} *{escape(d.name)}*"


def _due(d: DomainClose) -> str:
    label = d.deadline.label if d.deadline is not None else ""
    when = slack_date(d.due_at) if d.due_at is not None else ""
    return f"{label} ({when})" if label else when
