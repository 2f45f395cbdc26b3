"""The close as plain text for the CLI: a record's deadline, overdue and waits; the
close summary and an archived close, as ``/epmpulse close`` shows them in Slack.

Nothing here reads a clock: everything comes from the record given.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.close.archive import archived_periods, load_archive
from bot.close.calendar import CloseCalendar
from bot.close.live import CloseRecord, CloseSummary, DomainClose
from bot.close.periods import parse_period
from bot.errors import ValidationError
from bot.model import Status, parse_time

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


def close_lines(
    calendar: CloseCalendar, summary: CloseSummary, meta: Mapping[str, Any], period: str | None
) -> list[str]:
    """``epmpulse close [PERIOD]``: the running close, or the archive of ``period``.

    Raises ValidationError for a malformed period or one never archived (naming those that
    are, and the close running now).
    """
    if period is None:
        return summary_lines(calendar, summary)
    try:
        year, month = parse_period(period)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    period = f"{year:04d}-{month:02d}"
    if period == summary.period:
        return summary_lines(calendar, summary)
    archive = load_archive(meta, period)
    if archive is None:
        kept = ", ".join(archived_periods(meta)) or "none yet"
        raise ValidationError(
            f"The close of {period} has no archive. Archived: {kept}; "
            f"the close running now is {summary.period}."
        )
    return archive_lines(calendar, archive)


def summary_lines(calendar: CloseCalendar, summary: CloseSummary) -> list[str]:
    """The close summary as ``/epmpulse close`` shows it: n of m OK, overdue, waiting, next."""
    lines = [
        f"Close of {summary.period} - working day {summary.working_day} ({summary.timezone}) "
        f"- {summary.ok} of {summary.total} OK"
    ]
    overdue = summary.overdue
    if overdue:
        lines.append(f"Overdue ({len(overdue)}):")
        lines.extend(f"  {_domain(d)} - due {_due(calendar, d)}" for d in overdue)
    else:
        lines.append("Nothing overdue.")
    waiting = summary.waiting
    if waiting:
        lines.append(f"Waiting ({len(waiting)}):")
        lines.extend(f"  {_domain(d)} - waits on {', '.join(d.waiting_on)}" for d in waiting)
    upcoming = summary.next_deadlines()
    if upcoming:
        lines.append("Next deadlines:")
        lines.extend(f"  {_domain(d)} - {_due(calendar, d)}" for d in upcoming)
    elif not overdue:
        lines.append("No deadline ahead in this close.")
    return lines


def archive_lines(calendar: CloseCalendar, archive: Mapping[str, Any]) -> list[str]:
    """An archived close: n of m OK, then each late domain with when it became OK."""
    domains = [d for d in archive.get("domains") or [] if isinstance(d, Mapping)]
    ok = sum(1 for d in domains if d.get("status") == Status.OK)
    late = [d for d in domains if d.get("late")]
    lines = [f"Close of {archive.get('period')} (archived) - {ok} of {len(domains)} OK"]
    if not late:
        return [*lines, "Nothing was late."]
    lines.append(f"Late ({len(late)}):")
    for d in late:
        ok_at, due_at = _instant(d.get("ok_at")), _instant(d.get("due_at"))
        when = f"OK at {_local(calendar, ok_at)}" if ok_at else "never OK"
        due = f", due {_local(calendar, due_at)}" if due_at else ""
        lines.append(f"  {d.get('status')} {d.get('app')}/{d.get('domain')} - {when}{due}")
    return lines


def _domain(d: DomainClose) -> str:
    return f"{d.status.value:<8} {d.name}"


def _due(calendar: CloseCalendar, d: DomainClose) -> str:
    return due_text(calendar, (d.app, d.domain), d.due_at) or _local(calendar, d.due_at)


def _local(calendar: CloseCalendar, when: datetime | None) -> str:
    return calendar.local(when).strftime(LOCAL_FORMAT) if when is not None else ""


def _instant(value: object) -> datetime | None:
    try:
        return parse_time(value)
    except ValueError:
        return None
