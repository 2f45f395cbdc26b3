"""The board, a record and the history as plain text, for the CLI (`epmpulse status`, `history`)."""

from __future__ import annotations

from collections.abc import Collection

from bot.model import DomainRecord, HistoryEntry, format_time

OVERDUE_MARK = "  OVERDUE"


def board_lines(
    board: dict[str, list[DomainRecord]], overdue: Collection[tuple[str, str]] = ()
) -> list[str]:
    """One heading per app and one aligned line per domain; ``overdue`` rows are marked."""
    lines: list[str] = []
    for app, records in board.items():
        lines.append(app)
        lines.extend(
            f"  {record_line(r)}{OVERDUE_MARK if (r.app, r.domain) in overdue else ''}"
            for r in records
        )
    return lines


def record_line(record: DomainRecord) -> str:
    """Domain, status, message, time and author on one line."""
    when = (
        f"{format_time(record.updated_at)} by {record.updated_by}"
        if record.updated_at
        else "never set"
    )
    message = record.message.replace("\n", " ")
    jobs = f" [tracking {', '.join(f'{j.server}:{j.job_id}' for j in record.jobs)}]"
    signed = f" [signed off by {record.approved_by}]" if record.approved_by else ""
    waiting = ""
    if record.pending_approval is not None:  # SPEC §18
        waiting = f" [OK awaiting approval, asked by {record.pending_approval.by}]"
    disputed = f" [disputed: {record.disputed}]" if record.disputed else ""  # SPEC §17
    return (
        f"{record.domain:<16} {record.status.value:<8} {message or '-'}"
        f"  ({when}){jobs if record.jobs else ''}{signed}{waiting}{disputed}"
    )


def history_lines(entries: list[HistoryEntry]) -> list[str]:
    """One line per change, newest first."""
    if not entries:
        return ["no changes yet"]
    return [
        f"{format_time(e.at)}  {(e.old_status.value if e.old_status else '-'):>7} -> "
        f"{e.new_status.value:<7} {e.by}"
        f"{f' (signed off by {e.approved_by})' if e.approved_by else ''}"
        f"  {e.message.replace(chr(10), ' ')}".rstrip()
        for e in entries
    ]
