"""The close report in words: the Slack message, the chart's alt text, the Home headline.

Plain text and Slack mrkdwn only; names typed into the estate are escaped by the
caller's Slack helpers where they are shown as mrkdwn.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from bot.report.model import CloseReport, Row

SLOWEST = 3
# The message stays short however large the estate: the chart shows every row.
TEXT_ROWS = 25
ALT_TEXT_MAX = 1000


def duration(value: timedelta | None) -> str:
    """``2d 5h``, ``5h 30m``, ``45m``; ``never`` for None."""
    if value is None:
        return "never"
    minutes = int(value.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def headline(report: CloseReport, *, with_period: bool = True) -> str:
    """``Close 2026-10: 7 of 8 OK, 2 late, 1 never OK; median time to OK 1d 4h.``"""
    parts = [f"{report.ok_count} of {len(report.rows)} OK", f"{len(report.late_rows)} late"]
    if report.never_ok_rows:
        parts.append(f"{len(report.never_ok_rows)} never OK")
    numbers = f"{', '.join(parts)}; median time to OK {duration(report.median)}."
    return f"Close {report.period}: {numbers}" if with_period else numbers[0].upper() + numbers[1:]


def row_line(row: Row, escape: Callable[[str], str] = str, *, mrkdwn: bool = True) -> str:
    """One domain: time from the close's start to OK, then how late (bold in mrkdwn)."""
    if row.never_ok:
        mark = f" — {_bold('past its deadline', mrkdwn)}" if row.late else ""
        return f"{escape(row.label)}: never OK (ended {row.status}){mark}"
    signed = " — signed off" if row.approved_by else ""  # SPEC §18
    return f"{escape(row.label)}: {duration(row.to_ok)}{late_mark(row, mrkdwn=mrkdwn)}{signed}"


def late_mark(row: Row, *, mrkdwn: bool = True) -> str:
    """`` — *16h 30m late*`` for a row OK after its deadline (the time past it), else ""."""
    if row.late_by is not None:
        return f" — {_bold(f'{duration(row.late_by)} late', mrkdwn)}"
    return f" — {_bold('late', mrkdwn)}" if row.late and not row.never_ok else ""


def _bold(text: str, mrkdwn: bool) -> str:
    return f"*{text}*" if mrkdwn else text


def summary_lines(
    report: CloseReport,
    limit: int = TEXT_ROWS,
    escape: Callable[[str], str] = str,
    *,
    mrkdwn: bool = True,
) -> list[str]:
    """The message posted with the chart: headline, slowest three, then every domain.

    ``escape`` makes names safe for mrkdwn (the Slack side passes its own); without
    ``mrkdwn`` the lines are plain text (the CLI).
    """
    ordered = report.slowest_first
    lines = [_bold(headline(report), mrkdwn)]
    if report.sample:
        lines.append(
            "_Sample data, not a real close._" if mrkdwn else "Sample data, not a real close."
        )
    if ordered:
        slowest = ", ".join(f"{escape(r.label)} ({duration(r.to_ok)})" for r in ordered[:SLOWEST])
        lines.append(f"Slowest: {slowest}.")
        lines.append("Time from the close's start to OK, slowest first:")
        lines += [f"• {row_line(row, escape, mrkdwn=mrkdwn)}" for row in ordered[:limit]]
        if len(ordered) > limit:
            lines.append(f"… and {len(ordered) - limit} more on the chart.")
    else:
        lines.append("The archive lists no domains.")
    return lines


def alt_text(report: CloseReport) -> str:
    """What the chart shows, in words, for screen readers (at most 1000 characters)."""
    parts = [
        f"Timeline of the {report.period} close: one bar per domain from the close's start "
        f"to OK. {headline(report)}"
    ]
    if report.sample:
        parts.append("Sample data, not a real close.")
    slowest = [r for r in report.slowest_first if not r.never_ok][:SLOWEST]
    if slowest:
        parts.append(
            "Slowest to OK: " + ", ".join(f"{r.label} {duration(r.to_ok)}" for r in slowest) + "."
        )
    late = report.late_rows
    if late:
        parts.append("Late: " + ", ".join(r.label for r in late[:10]) + ".")
    never = report.never_ok_rows
    if never:
        parts.append("Never OK: " + ", ".join(r.label for r in never[:10]) + ".")
    trend = [p for p in report.trend if p.median is not None]
    if len(trend) > 1:
        parts.append(
            f"Trend over {len(trend)} closes: median time to OK from "
            f"{duration(trend[0].median)} ({trend[0].period}) to {duration(trend[-1].median)} "
            f"({trend[-1].period}); worst domain from {duration(trend[0].worst)} to "
            f"{duration(trend[-1].worst)}."
        )
    text = " ".join(parts)
    return text if len(text) <= ALT_TEXT_MAX else text[: ALT_TEXT_MAX - 1] + "…"
