"""Plain-text views of the board and history, for the CLI."""

from __future__ import annotations

from bot.model import DomainRecord, HistoryEntry, format_time


def board_lines(board: dict[str, list[DomainRecord]]) -> list[str]:
    """One heading per app and one aligned line per domain."""
    lines: list[str] = []
    for app, records in board.items():
        lines.append(app)
        lines.extend(f"  {record_line(r)}" for r in records)
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
    disputed = f" [disputed: {record.disputed}]" if record.disputed else ""
    return (
        f"{record.domain:<16} {record.status.value:<8} {message or '-'}"
        f"  ({when}){jobs if record.jobs else ''}{disputed}"
    )


def history_lines(entries: list[HistoryEntry]) -> list[str]:
    """One line per change, newest first."""
    if not entries:
        return ["no changes yet"]
    return [
        f"{format_time(e.at)}  {(e.old_status.value if e.old_status else '-'):>7} -> "
        f"{e.new_status.value:<7} {e.by}  {e.message.replace(chr(10), ' ')}".rstrip()
        for e in entries
    ]
