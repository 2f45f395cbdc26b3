"""The board as canvas markdown (SPEC §5).

One h1 title, then per app an h2 and a ``| Domain | Status | Message | Updated | By |``
table. Output depends only on the board, the title and the timezone, never on the
current time, so an unchanged board renders to the same bytes and is never re-sent.

With close deadlines (SPEC §11) a ``Due`` column follows ``Message``: ``WD2 12:00`` and
the local date, ``overdue`` on rows the close part has marked so (a board change, never
a clock reading), and a waiting row names what it waits on in its Status cell.

Canvas limits respected for any estate size:

- a table holds at most 300 cells, so an app with many domains is split into several
  tables, each continuation under an h3 ``APP (2/3)``;
- headings stop at h3 (canvases refuse h4 and deeper);
- a document is at most 1 MiB; a board that would exceed it is rendered again with
  shortened messages, then without messages.

Text from users or configuration is escaped only as far as the layout needs, so the
canvas shows a message as it was typed (``GL load failed #42!``) and a search for it
finds it:

- in a table cell (:func:`cell`), line breaks and control characters become one space
  and ``|``, ``[`` and ``<`` are backslash-escaped; a run of backslashes right before
  one of them is doubled, so a message cannot unescape it. The pipe keeps the table
  whole; ``[`` and ``<`` keep mentions (``![](@U…)``, ``![](#C…)``, ``<@U…>``,
  ``<!here>``), links and HTML inert, so a message notifies no one: only the By column
  renders a mention, of the Slack user who made the change. Emphasis stays markdown;
- in a heading (:func:`heading`), line breaks become spaces and a trailing run of ``#``
  is escaped (CommonMark would drop it as a closing sequence).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.model import DomainRecord

if TYPE_CHECKING:
    from bot.close.live import DomainClose

COLUMNS = ("Domain", "Status", "Message", "Updated", "By")
CLOSE_COLUMNS = ("Domain", "Status", "Message", "Due", "Updated", "By")
MAX_TABLE_CELLS = 300
DUE_DATE_FORMAT = "%a %Y-%m-%d"
MAX_DOCUMENT_BYTES = 1_048_576
SHORT_MESSAGE_CHARS = 40
TIME_FORMAT = "%Y-%m-%d %H:%M %Z"
NEVER = "—"

# A run of line breaks (of every flavour) or control characters, with the spaces around
# it, becomes one space: a break would end the table row or the heading.
_BREAKS = re.compile(r" *[\x00-\x1f\x7f-\x9f\u2028\u2029][\x00-\x1f\x7f-\x9f\u2028\u2029 ]*")
# A pipe and the backslashes right before it. GFM splits cells at every pipe that is not
# backslash-escaped, and a backslash escapes a backslash: escaping only the pipe of
# "a \| b" would give "a \\| b", where the pipe is live again. The same holds for the
# characters that open a mention or a link: "[" (``![](@U…)``, ``![](#C…)``,
# ``[x](@U…)``) and "<" (``<@U…>``, ``<#C…>``, ``<!here>``, raw HTML). Escaped, they
# show as typed and notify no one (SPEC §5).
_INERT = re.compile(r"(\\*)([|\[<])")
# ATX headings drop a trailing run of ``#`` that follows a space (a closing sequence).
_CLOSING = re.compile(r"(^|\s)(#+)$")
_SLACK_USER = re.compile(r"^slack:([UW][A-Z0-9]{2,})$")


def one_line(text: str) -> str:
    """``text`` on one line: breaks and control characters become single spaces, trimmed."""
    return _BREAKS.sub(" ", text).strip()


def cell(text: str) -> str:
    """``text`` as one table cell: one line, no live pipe, mention or link; shown as typed."""
    return _INERT.sub(lambda m: m.group(1) * 2 + "\\" + m.group(2), one_line(text))


def heading(text: str) -> str:
    """``text`` as the content of a heading: one line that keeps every character shown."""
    return _CLOSING.sub(r"\1\\\2", one_line(text))


def mention(updated_by: str) -> str:
    """Who made a change: a canvas user mention for ``slack:U…``, else the text as a cell."""
    match = _SLACK_USER.match(updated_by)
    if match:
        return f"![](@{match.group(1)})"
    return cell(updated_by)


def _shorten(message: str, limit: int | None) -> str:
    if limit is None or len(message) <= limit:
        return message
    return message[: limit - 1].rstrip() + "…"


def _row(
    record: DomainRecord,
    zone: ZoneInfo,
    message_limit: int | None,
    close: Mapping[tuple[str, str], DomainClose] | None = None,
    due_column: bool = False,
) -> str:
    updated, by = NEVER, ""
    if record.updated_at is not None:
        updated = record.updated_at.astimezone(zone).strftime(TIME_FORMAT)
        by = mention(record.updated_by)
        if record.approved_by is not None:  # SPEC §18
            by += ", signed off by " + mention(record.approved_by)
    state = close.get((record.app, record.domain)) if close is not None else None
    status = f"{record.status.emoji} {record.status.value}"
    if record.disputed:  # EPM contradicts it (SPEC §17); the reason is in Slack and REST
        status += " :warning: disputed"
    if state is not None and state.held:  # a person vetoed its automatic start
        status += " · :raised_hand: start held"
    if state is not None and state.waiting_on:
        status += " · waiting on " + ", ".join(cell(name) for name in state.waiting_on)
    if record.pending_approval is not None:  # SPEC §18
        status += " · OK awaiting approval"
    cells = [
        cell(record.domain),
        status,
        cell(_shorten(one_line(record.message), message_limit)) if message_limit != 0 else "",
        updated,
        by,
    ]
    if due_column:
        cells.insert(3, _due(state))
    return "| " + " | ".join(cells) + " |"


def _due(state: DomainClose | None) -> str:
    """``WD2 12:00 · Wed 2026-12-02`` in the close timezone, ``· overdue`` when marked."""
    if state is None or state.deadline is None or state.due_at is None:
        return ""
    due = state.due_at.astimezone(ZoneInfo(state.timezone))
    text = f"{state.deadline.label} · {due.strftime(DUE_DATE_FORMAT)}"
    return text + " · overdue" if state.overdue else text


def _table(rows: Iterable[str], columns: Sequence[str] = COLUMNS) -> list[str]:
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join(" --- " for _ in columns) + "|"
    return [header, rule, *rows]


def _chunks(records: Sequence[DomainRecord], size: int) -> list[Sequence[DomainRecord]]:
    return [records[i : i + size] for i in range(0, len(records), size)] or [records]


def _render(
    board: Mapping[str, Sequence[DomainRecord]],
    title: str,
    zone: ZoneInfo,
    message_limit: int | None,
    close: Mapping[tuple[str, str], DomainClose] | None = None,
) -> str:
    due_column = close is not None and any(d.deadline for d in close.values())
    columns = CLOSE_COLUMNS if due_column else COLUMNS
    rows_per_table = MAX_TABLE_CELLS // len(columns) - 1  # the header row holds cells too
    lines = [f"# {heading(title)}"]
    for app, records in board.items():
        chunks = _chunks(records, rows_per_table)
        for number, chunk in enumerate(chunks, start=1):
            lines.append("")
            if number == 1:
                lines.append(f"## {heading(app)}")
            else:
                lines.append(f"### {heading(app)} ({number}/{len(chunks)})")
            lines.append("")
            rows = (_row(r, zone, message_limit, close, due_column) for r in chunk)
            lines.extend(_table(rows, columns))
    return "\n".join(lines) + "\n"


def render_board(
    board: Mapping[str, Sequence[DomainRecord]],
    *,
    title: str,
    timezone: str = "UTC",
    close: Mapping[tuple[str, str], DomainClose] | None = None,
) -> str:
    """The canvas markdown of ``board`` (apps in the given order), deterministic.

    ``close`` (from :meth:`bot.close.live.CloseTracker.board_domains`) adds the Due
    column (when any domain has a deadline) and what waiting domains wait on.
    """
    zone = ZoneInfo(timezone)
    markdown = ""
    # Full messages, then shortened ones, then none: the first that fits the canvas.
    for message_limit in (None, SHORT_MESSAGE_CHARS, 0):
        markdown = _render(board, title, zone, message_limit, close)
        if len(markdown.encode("utf-8")) <= MAX_DOCUMENT_BYTES:
            break
    return markdown


def digest(markdown: str) -> str:
    """A stable content hash of a rendered document (what "already published" compares)."""
    return hashlib.sha256(markdown.encode("utf-8")).hexdigest()
