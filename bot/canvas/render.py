"""The board as canvas markdown (SPEC §5).

One h1 title, then per app an h2 and a ``| Domain | Status | Message | Updated | By |``
table. Output depends only on the board, the title and the timezone, never on the
current time, so an unchanged board renders to the same bytes and is never re-sent.

Canvas limits respected for any estate size:

- a table holds at most 300 cells, so an app with many domains is split into several
  tables, each continuation under an h3 ``APP (2/3)``;
- headings stop at h3 (canvases refuse h4 and deeper);
- a document is at most 1 MiB; a board that would exceed it is rendered again with
  shortened messages, then without messages.

Every piece of text that comes from users or configuration is escaped so it cannot
break the table (``|``, line breaks) or turn into markup (links, mentions, emphasis).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from bot.model import DomainRecord

COLUMNS = ("Domain", "Status", "Message", "Updated", "By")
MAX_TABLE_CELLS = 300
# The header row is a row of cells too.
MAX_ROWS_PER_TABLE = MAX_TABLE_CELLS // len(COLUMNS) - 1
MAX_DOCUMENT_BYTES = 1_048_576
SHORT_MESSAGE_CHARS = 40
TIME_FORMAT = "%Y-%m-%d %H:%M %Z"
NEVER = "—"

# Characters CommonMark/GFM give a meaning inside a table cell. ``!``, ``[`` and ``]``
# would otherwise let a message smuggle in a link or a canvas mention (``![](@U1)``).
_MARKUP = re.compile(r"([\\`*_~\[\]<>!|&#])")
# Line and paragraph breaks of every flavour end a table row; they become spaces.
_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")
_SPACES = re.compile(r"[ \t]+")
_SLACK_USER = re.compile(r"^slack:([UW][A-Z0-9]{2,})$")


def escape(text: str) -> str:
    """Make ``text`` safe inside a heading or a table cell: one line, no markup."""
    one_line = _SPACES.sub(" ", _BREAKS.sub(" ", _CONTROL.sub("", text))).strip()
    return _MARKUP.sub(r"\\\1", one_line)


def mention(updated_by: str) -> str:
    """Who made a change: a canvas user mention for ``slack:U…``, else the escaped text."""
    match = _SLACK_USER.match(updated_by)
    if match:
        return f"![](@{match.group(1)})"
    return escape(updated_by)


def _shorten(message: str, limit: int | None) -> str:
    if limit is None or len(message) <= limit:
        return message
    return message[: limit - 1].rstrip() + "…"


def _row(record: DomainRecord, zone: ZoneInfo, message_limit: int | None) -> str:
    updated, by = NEVER, ""
    if record.updated_at is not None:
        updated = record.updated_at.astimezone(zone).strftime(TIME_FORMAT)
        by = mention(record.updated_by)
    cells = [
        escape(record.domain),
        f"{record.status.emoji} {record.status.value}",
        escape(_shorten(record.message, message_limit)) if message_limit != 0 else "",
        updated,
        by,
    ]
    return "| " + " | ".join(cells) + " |"


def _table(rows: Iterable[str]) -> list[str]:
    header = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join(" --- " for _ in COLUMNS) + "|"
    return [header, rule, *rows]


def _chunks(records: Sequence[DomainRecord], size: int) -> list[Sequence[DomainRecord]]:
    return [records[i : i + size] for i in range(0, len(records), size)] or [records]


def _render(
    board: Mapping[str, Sequence[DomainRecord]],
    title: str,
    zone: ZoneInfo,
    message_limit: int | None,
) -> str:
    lines = [f"# {escape(title)}"]
    for app, records in board.items():
        chunks = _chunks(records, MAX_ROWS_PER_TABLE)
        for number, chunk in enumerate(chunks, start=1):
            lines.append("")
            if number == 1:
                lines.append(f"## {escape(app)}")
            else:
                lines.append(f"### {escape(app)} ({number}/{len(chunks)})")
            lines.append("")
            lines.extend(_table(_row(r, zone, message_limit) for r in chunk))
    return "\n".join(lines) + "\n"


def render_board(
    board: Mapping[str, Sequence[DomainRecord]], *, title: str, timezone: str = "UTC"
) -> str:
    """The canvas markdown of ``board`` (apps in the given order), deterministic."""
    zone = ZoneInfo(timezone)
    markdown = ""
    # Full messages, then shortened ones, then none: the first that fits the canvas.
    for message_limit in (None, SHORT_MESSAGE_CHARS, 0):
        markdown = _render(board, title, zone, message_limit)
        if len(markdown.encode("utf-8")) <= MAX_DOCUMENT_BYTES:
            break
    return markdown


def digest(markdown: str) -> str:
    """A stable content hash of a rendered document (what "already published" compares)."""
    return hashlib.sha256(markdown.encode("utf-8")).hexdigest()
