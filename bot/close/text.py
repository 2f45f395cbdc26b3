"""The close as plain text for the CLI: a record's deadline, overdue and waits.

Nothing here reads a clock: everything comes from the record given.
"""

from __future__ import annotations

from datetime import datetime

from bot.close.calendar import CloseCalendar
from bot.close.live import CloseRecord

LOCAL_FORMAT = "%a %Y-%m-%d %H:%M %Z"


def due_text(calendar: CloseCalendar, key: tuple[str, str], due_at: datetime | None) -> str:
    """``WD2 12:00 (Wed 2026-12-02 12:00 GMT)``, or "" without a deadline."""
    rule = calendar.deadline(key)
    if rule is None or due_at is None:
        return ""
    return f"{rule.label} ({calendar.local(due_at).strftime(LOCAL_FORMAT)})"


def record_lines(calendar: CloseCalendar, record: CloseRecord) -> list[str]:
    """Plain lines for one record: its deadline (overdue or not) and what it waits on."""
    lines = []
    due = due_text(calendar, (record.app, record.domain), record.due_at)
    if due:
        lines.append(f"Due: {due}{' - OVERDUE' if record.overdue else ''}")
    if record.waiting_on:
        lines.append(f"Waiting on: {', '.join(record.waiting_on)}")
    return lines
