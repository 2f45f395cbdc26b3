"""The audit export (SPEC §12): every change, in order, as RFC 4180 CSV or JSON lines.

The CLI (``epmpulse export``) and the REST API (``GET /api/v1/export``) both stream
:func:`export_chunks` over :meth:`bot.store.Store.iter_history`, so memory stays flat
however long the history is: entries are read one at a time and written out in
chunks of about :data:`CHUNK_CHARS` characters.

``since`` is inclusive and ``until`` exclusive; both are instants in ISO 8601
(``2026-11-01``, ``2026-11-01T09:00:00Z``, ``2026-11-01T10:00:00+01:00``). A date or a
time without an offset is read as UTC.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from bot.errors import ValidationError
from bot.model import parse_time

logger = logging.getLogger(__name__)

ExportFormat = Literal["csv", "jsonl"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "jsonl")
# `approved_by` (SPEC §18) came last so that readers of the earlier seven columns still work.
COLUMNS = ("at", "app", "domain", "old_status", "new_status", "message", "by", "approved_by")
MEDIA_TYPES: dict[ExportFormat, str] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
}
CHUNK_CHARS = 64 * 1024


def parse_instant(text: str, name: str) -> datetime:
    """Parse an ISO 8601 date or date-time as an aware UTC datetime.

    Raises :class:`~bot.errors.ValidationError` naming ``name`` and the accepted forms.
    """
    try:
        return parse_time(text.strip(), naive=UTC)
    except (ValueError, OverflowError):  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValidationError(
            f"{name}: '{text}' is not an ISO 8601 instant; use e.g. 2026-11-01, "
            "2026-11-01T09:00:00Z or 2026-11-01T10:00:00+01:00."
        ) from None


def parse_format(text: str) -> ExportFormat:
    """Return the export format ``text`` names; raise ValidationError naming the choices."""
    for known in FORMATS:
        if text.strip().lower() == known:
            return known
    raise ValidationError(f"Unknown format '{text}'. Valid: {', '.join(FORMATS)}.")


def check_window(since: datetime | None, until: datetime | None) -> None:
    """Refuse a window that can hold nothing (``until`` not after ``since``)."""
    if since is not None and until is not None and until <= since:
        raise ValidationError(
            "until must be later than since (since is inclusive, until exclusive)."
        )


def select(
    entries: Iterable[dict[str, Any]], since: datetime | None, until: datetime | None
) -> Iterator[dict[str, Any]]:
    """The entries whose ``at`` lies in ``[since, until)``, in their order.

    An entry whose time cannot be read is kept when no window is given and skipped
    (with a warning) otherwise.
    """
    if since is None and until is None:
        yield from entries
        return
    for entry in entries:
        try:
            at = parse_time(entry["at"], naive=UTC)
        except (KeyError, ValueError):
            logger.warning("export: skipped a history entry without a readable time")
            continue
        if (since is None or at >= since) and (until is None or at < until):
            yield entry


def row(entry: dict[str, Any]) -> list[str]:
    """One entry as the CSV columns, missing or null fields as empty strings."""
    return ["" if entry.get(column) is None else str(entry[column]) for column in COLUMNS]


def export_chunks(
    entries: Iterable[dict[str, Any]],
    fmt: ExportFormat,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[str]:
    """The export of ``entries`` as text chunks; CSV starts with its header row.

    CSV follows RFC 4180: CRLF line ends, fields with a quote, comma or line break
    quoted, quotes doubled. JSON lines keep non-ASCII characters as they are.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(COLUMNS)
    for entry in select(entries, since, until):
        if writer is not None:
            writer.writerow(row(entry))
        else:
            fields = {column: entry.get(column) for column in COLUMNS}
            buffer.write(json.dumps(fields, ensure_ascii=False))
            buffer.write("\n")
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()
