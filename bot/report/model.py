"""What a close report shows, computed from the archives kept in store meta.

An archive (``bot.close.archive``) lists per domain its final status, ``due_at``,
``ok_at`` and ``late``. A report adds what the chart and the text need: when the
close began (00:00 on the 1st of the month after the period, in the report's time
zone), each domain's time from that start to OK, and the trend of time-to-OK
(median and worst domain) over the last :data:`TREND_CLOSES` archived closes.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.close.archive import archived_periods, load_archive
from bot.close.periods import close_start, parse_period
from bot.errors import ValidationError
from bot.estate import Estate

TREND_CLOSES = 6


class NoArchiveError(ValidationError):
    """A period that was never archived (or no archive at all); names the archived ones."""

    def __init__(self, period: str | None, archived: Sequence[str]) -> None:
        self.period = period
        self.archived = list(archived)
        listing = ", ".join(self.archived) if self.archived else "none yet"
        if period is None:
            text = "No close has been archived yet, so there is no report to show."
        else:
            text = f"No archived close for {period}. Archived periods: {listing}."
        super().__init__(text)


def report_timezone(estate: Estate) -> ZoneInfo:
    """The time zone closes are counted in for the report (its start, its axis)."""
    return ZoneInfo(estate.close_timezone())


@dataclass(frozen=True)
class Row:
    """One domain of an archived close."""

    app: str
    domain: str
    status: str
    due_at: datetime | None
    ok_at: datetime | None
    late: bool
    # Time from the close's start to OK; None when the domain never became OK.
    to_ok: timedelta | None
    approved_by: str | None = None  # who signed off its OK (SPEC §18)

    @property
    def label(self) -> str:
        """``App / Domain``."""
        return f"{self.app} / {self.domain}"

    @property
    def never_ok(self) -> bool:
        """The domain did not become OK during the close."""
        return self.ok_at is None

    @property
    def late_by(self) -> timedelta | None:
        """How long after its deadline it became OK; None when on time, never OK or no deadline."""
        if self.ok_at is None or self.due_at is None or self.ok_at <= self.due_at:
            return None
        return self.ok_at - self.due_at


@dataclass(frozen=True)
class TrendPoint:
    """Time-to-OK of one archived close: median and worst domain (OK domains only)."""

    period: str
    median: timedelta | None
    worst: timedelta | None
    never_ok: int
    domains: int


@dataclass(frozen=True)
class CloseReport:
    """One archived close, ready to draw or describe."""

    period: str
    start: datetime
    tz: ZoneInfo
    rows: tuple[Row, ...]
    trend: tuple[TrendPoint, ...]
    # Synthetic archives (the demo's) say so, and so does everything drawn from them.
    sample: bool = False

    @property
    def ok_count(self) -> int:
        """Domains that became OK."""
        return sum(1 for row in self.rows if not row.never_ok)

    @property
    def late_rows(self) -> list[Row]:
        """Domains that became OK after their deadline (the chart's "OK late" bars).

        A domain that never became OK is counted with :attr:`never_ok_rows`, not here.
        """
        return [row for row in self.rows if row.late and not row.never_ok]

    @property
    def never_ok_rows(self) -> list[Row]:
        """Domains that never became OK."""
        return [row for row in self.rows if row.never_ok]

    @property
    def slowest_first(self) -> list[Row]:
        """Every row, never-OK ones first, then by time to OK, longest first."""
        return sorted(self.rows, key=_slowness, reverse=True)

    @property
    def median(self) -> timedelta | None:
        """Median time to OK of this close (OK domains only)."""
        return self.trend[-1].median if self.trend else None

    @property
    def last_event(self) -> datetime:
        """The latest OK or deadline of the close (its start when there is none)."""
        moments = [self.start]
        for row in self.rows:
            moments += [m for m in (row.ok_at, row.due_at) if m is not None]
        return max(moments)


def last_archived(meta: Mapping[str, Any]) -> str:
    """The most recent archived period; NoArchiveError when none is."""
    periods = archived_periods(meta)
    if not periods:
        raise NoArchiveError(None, [])
    return periods[-1]


def build_report(meta: Mapping[str, Any], period: str | None, tz: ZoneInfo) -> CloseReport:
    """The report of ``period`` (default: the last archived close).

    Raises ValidationError for a malformed period and NoArchiveError for one that was
    never archived; both name what is valid.
    """
    archived = archived_periods(meta)
    period = last_archived(meta) if period is None else _canonical(period)
    archive = load_archive(meta, period)
    if archive is None:
        raise NoArchiveError(period, archived)
    start = close_start(period, tz)
    rows = tuple(_row(entry, start) for entry in archive.get("domains") or [])
    earlier = [p for p in archived if p <= period][-TREND_CLOSES:]
    trend = tuple(_trend_point(meta, p, tz) for p in earlier)
    sample = bool(archive.get("sample"))
    return CloseReport(period=period, start=start, tz=tz, rows=rows, trend=trend, sample=sample)


def _canonical(period: str) -> str:
    try:
        year, month = parse_period(period)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    return f"{year:04d}-{month:02d}"


def _row(entry: Mapping[str, Any], start: datetime) -> Row:
    ok_at = _time(entry.get("ok_at"))
    return Row(
        app=str(entry.get("app", "")),
        domain=str(entry.get("domain", "")),
        status=str(entry.get("status", "")),
        due_at=_time(entry.get("due_at")),
        ok_at=ok_at,
        late=bool(entry.get("late")),
        to_ok=None if ok_at is None else max(ok_at - start, timedelta(0)),
        approved_by=entry.get("approved_by") if isinstance(entry.get("approved_by"), str) else None,
    )


def _trend_point(meta: Mapping[str, Any], period: str, tz: ZoneInfo) -> TrendPoint:
    archive = load_archive(meta, period) or {}
    start = close_start(period, tz)
    rows = [_row(entry, start) for entry in archive.get("domains") or []]
    seconds = [row.to_ok.total_seconds() for row in rows if row.to_ok is not None]
    return TrendPoint(
        period=period,
        median=timedelta(seconds=statistics.median(seconds)) if seconds else None,
        worst=timedelta(seconds=max(seconds)) if seconds else None,
        never_ok=sum(1 for row in rows if row.never_ok),
        domains=len(rows),
    )


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value)


def _slowness(row: Row) -> tuple[int, float]:
    return (1, 0.0) if row.to_ok is None else (0, row.to_ok.total_seconds())
