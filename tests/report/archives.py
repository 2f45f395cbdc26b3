"""Synthetic close archives for the report tests, stored the way the close calendar does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.close.archive import archive_key
from bot.store import Store

Archive = dict[str, Any]


def domain(
    app: str,
    name: str,
    *,
    ok_at: str | None,
    due_at: str | None = None,
    late: bool = False,
    status: str | None = None,
) -> dict[str, Any]:
    """One archived domain (times as ISO 8601 UTC with Z)."""
    return {
        "app": app,
        "domain": name,
        "status": status or ("OK" if ok_at else "Error"),
        "due_at": due_at,
        "ok_at": ok_at,
        "late": late,
    }


def october() -> Archive:
    """The 2026-10 close (runs in November 2026): on time, late, never OK (late), no deadline."""
    return {
        "period": "2026-10",
        "domains": [
            domain(
                "Planning", "Actuals", ok_at="2026-11-02T15:00:00Z", due_at="2026-11-03T12:00:00Z"
            ),
            domain(
                "Planning",
                "Forecast",
                ok_at="2026-11-04T09:30:00Z",
                due_at="2026-11-03T17:00:00Z",
                late=True,
            ),
            domain("Planning", "Budget", ok_at="2026-11-01T06:00:00Z"),
            domain("FCCS", "Actuals", ok_at="2026-11-03T10:00:00Z", due_at="2026-11-04T17:00:00Z"),
            domain(
                "FCCS",
                "Consolidation",
                ok_at=None,
                due_at="2026-11-05T17:00:00Z",
                late=True,
                status="Error",
            ),
            domain("ARCS", "Reconciliation", ok_at=None, status="Warning"),
        ],
    }


def simple(period: str, hours: list[int]) -> Archive:
    """A close of ``period`` whose domains became OK ``hours`` after its start (UTC)."""
    year, month = (int(x) for x in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    domains = []
    for index, h in enumerate(hours):
        day, hour = divmod(h, 24)
        ok = f"{year:04d}-{month:02d}-{day + 1:02d}T{hour:02d}:00:00Z"
        domains.append(domain("App", f"D{index}", ok_at=ok))
    return {"period": period, "domains": domains}


def put_archives(store: Store, archives: Mapping[str, Archive]) -> None:
    """Write archives into store meta in one commit, as the close calendar does."""

    def write(work: Any) -> None:
        for period, archive in archives.items():
            work.put_meta(archive_key(period), archive)

    store.commit(write)
