"""``GET /api/v1/export``: the whole change log, streamed as CSV or JSON lines (SPEC §12).

The same :func:`bot.export.export_chunks` as ``epmpulse export``, over
:meth:`bot.store.Store.iter_history`: the history is read as a stream in the thread
pool (Starlette iterates a plain iterator there), so memory stays flat and the event
loop never blocks on disk. The window and format are checked before the first byte
is sent, so a malformed instant is a 400 ``INVALID_REQUEST``, not a broken download.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import StreamingResponse

from bot import export
from bot.api.context import context_of
from bot.api.keyed import KeyedRouter

_INSTANT = "An ISO 8601 instant (2026-11-01, 2026-11-01T09:00:00Z); without an offset, UTC."
_EXPORT_OK: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Every change in order: CSV with the header "
        "`at,app,domain,old_status,new_status,message,by` (RFC 4180), or one JSON "
        "history entry per line.",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}

router = KeyedRouter("history", _EXPORT_OK)


@router.read(
    "/export",
    response_class=StreamingResponse,
    summary="Every change, for auditors (CSV or JSON lines)",
)
async def export_history(
    request: Request,
    since: Annotated[
        str | None, Query(max_length=64, description=f"Inclusive start. {_INSTANT}")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=64, description=f"Exclusive end. {_INSTANT}")
    ] = None,
    format: Annotated[export.ExportFormat, Query(description="csv (default) or jsonl")] = "csv",
) -> StreamingResponse:
    """Stream every change in ``[since, until)``, oldest first."""
    start = export.parse_instant(since, "since") if since else None
    end = export.parse_instant(until, "until") if until else None
    export.check_window(start, end)
    store = context_of(request).service.store
    chunks = export.export_chunks(store.iter_history(), format, since=start, until=end)
    name = f"epmpulse-history.{format}"
    return StreamingResponse(
        chunks,
        media_type=export.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
