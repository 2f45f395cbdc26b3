"""Slack mrkdwn: escaping, clipping, reader-local dates, status and author labels, record lines."""

from __future__ import annotations

from datetime import datetime

from bot.model import DomainRecord, HistoryEntry, Status, format_time

ELLIPSIS = "…"


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo Slack's escaping of ``&``, ``<`` and ``>`` in text it sends to the app."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + ELLIPSIS


def slack_date(moment: datetime) -> str:
    """A time every reader sees in their own timezone; ISO 8601 UTC as the fallback."""
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{format_time(moment)}>"


def status_label(status: Status) -> str:
    """Emoji and canonical word, e.g. ``:red_circle: Error``."""
    return f"{status.emoji} {status.value}"


def author(by: str) -> str:
    """Who made a change: a Slack mention for ``slack:U…``, the raw source otherwise."""
    source, _, name = by.partition(":")
    if source == "slack" and name:
        return f"<@{name}>"
    return escape(by)


def record_line(record: DomainRecord, *, with_app: bool = False) -> str:
    """One domain on one mrkdwn line: emoji, name, status, message, when and who."""
    name = f"{record.app} / {record.domain}" if with_app else record.domain
    parts = [f"{record.status.emoji} *{escape(name)}* — {record.status.value}"]
    if record.message:
        parts.append(escape(record.message.replace("\n", " ")))
    if record.updated_at is not None:
        parts.append(f"{slack_date(record.updated_at)} by {author(record.updated_by)}")
    else:
        parts.append("never set")
    if record.approved_by is not None:
        parts.append(f"signed off by {author(record.approved_by)}")
    if record.jobs:
        jobs = ", ".join(f"{j.server}:{j.job_id}" for j in record.jobs)
        parts.append(f"tracking {escape(jobs)}")
    if record.pending_approval is not None:
        parts.append(f"OK awaiting approval (asked by {author(record.pending_approval.by)})")
    if record.disputed:
        parts.append(f":warning: disputed: {escape(record.disputed)}")
    return " · ".join(parts)


def history_line(entry: HistoryEntry) -> str:
    """One change on one mrkdwn line: when, old → new, who, message."""
    old = entry.old_status.value if entry.old_status else "—"
    line = f"{slack_date(entry.at)} {old} → {entry.new_status.emoji} {entry.new_status.value}"
    line += f" by {author(entry.by)}"
    if entry.approved_by is not None:
        line += f", signed off by {author(entry.approved_by)}"
    if entry.message:
        line += f" · {escape(entry.message.replace(chr(10), ' '))}"
    return line
