"""Draw a close report as a PNG: the close as a timeline, and the trend beside it.

Left: one row per domain from the close's start to OK: on-time rows first, quickest at
the top, then late rows, then rows that never became OK; the deadline is a black tick
on the row; late rows are vermillion *and* hatched (so they stand out without colour)
and say how late they were; rows that never became OK run to the right edge,
cross-hatched, and say their final status. The axis counts days from the close's
start, non-working days shaded, working days numbered (WD1, WD2, …). Right:
time to OK (median and worst domain) of the last six archived closes.

matplotlib is imported inside :func:`render_chart` (Agg canvas, no pyplot, no global
state), so importing this module costs nothing. The output is deterministic: the PNG
carries no timestamp or software version, and the same report gives the same bytes.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from bot.close.periods import MONTH_NAMES, close_end, parse_period
from bot.report.model import CloseReport, Row
from bot.report.summary import duration, headline

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from bot.service import StatusService

# rc_context changes matplotlib's global settings: one chart at a time.
_RENDER_LOCK = threading.Lock()
WIDTH_IN = 14.0  # 1400 px at DPI
DPI = 100
LABEL_CHARS = 34
MIN_AXIS_DAYS = 3
ANNOTATE_MAX_ROWS = 60
TALL_ROWS = 40
WEEKEND = frozenset({5, 6})  # Saturday, Sunday

# Okabe-Ito colours: distinguishable with every common colour-vision deficiency.
ON_TIME = "#0072B2"
LATE = "#D55E00"
NEVER_LATE = "#F4C7A8"
NEVER = "#D9D9D9"
DEADLINE = "#000000"
SHADE = "#EFEFEF"
GRID = "#C8C8C8"
MEDIAN = "#009E73"
WORST = "#333333"
TEXT = "#222222"
MUTED = "#666666"


@dataclass(frozen=True)
class _Layout:
    """Sizes in inches and points, chosen from the number of rows."""

    rows: int
    row_in: float
    font: float
    height_in: float
    top_in: float = 1.55
    bottom_in: float = 0.95
    left_in: float = 2.7
    timeline_in: float = 7.0
    gap_in: float = 0.95

    @classmethod
    def for_rows(cls, rows: int) -> _Layout:
        count = max(rows, 1)
        row_in = 0.32 if count <= 40 else max(0.12, 0.32 * 40 / count)
        font = min(10.0, max(6.0, row_in * 72 * 0.62))
        # A tall chart repeats the day labels above the rows, so nobody scrolls to read them.
        top = 1.55 + (0.45 if count > TALL_ROWS else 0.0)
        height = max(6.0, top + 0.95 + count * row_in)
        return cls(rows=count, row_in=row_in, font=font, height_in=height, top_in=top)

    @property
    def tall(self) -> bool:
        """Whether the day labels are shown above the rows too."""
        return self.rows > TALL_ROWS

    @property
    def plot_in(self) -> float:
        """Height of the timeline axes."""
        return self.height_in - self.top_in - self.bottom_in


def draw_report(service: StatusService, report: CloseReport) -> bytes:
    """The report's chart, with the close calendar's working days."""
    return render_chart(report, is_working_day=service.close.calendar.is_working_day)


def render_chart(
    report: CloseReport, *, is_working_day: Callable[[date], bool] | None = None
) -> bytes:
    """The report as PNG bytes, at least 1200 px wide.

    ``is_working_day`` is the close calendar's (weekend and holidays as configured); days
    it rejects are shaded and not numbered. Without one, Saturday and Sunday are shaded.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layout = _Layout.for_rows(len(report.rows))
    with (
        _RENDER_LOCK,
        matplotlib.rc_context(
            {
                "font.family": "DejaVu Sans",
                "font.size": 10,
                "hatch.linewidth": 1.0,
                "axes.edgecolor": "#888888",
                "axes.linewidth": 0.8,
            }
        ),
    ):
        figure = Figure(figsize=(WIDTH_IN, layout.height_in), dpi=DPI, facecolor="white")
        FigureCanvasAgg(figure)
        _title(figure, report, layout)
        timeline = figure.add_axes(_box(layout, layout.left_in, layout.timeline_in, layout.plot_in))
        _draw_timeline(timeline, report, layout, is_working_day or _mon_to_fri)
        trend_left = layout.left_in + layout.timeline_in + layout.gap_in
        trend_width = WIDTH_IN - trend_left - 0.35
        trend_height = min(layout.plot_in, 4.2)
        trend = figure.add_axes(_box(layout, trend_left, trend_width, trend_height))
        _draw_trend(trend, report)
        _legend(figure, report, layout)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _box(
    layout: _Layout, left: float, width: float, height: float
) -> tuple[float, float, float, float]:
    """Axes rectangle in figure fractions, top-aligned under the title."""
    bottom = layout.height_in - layout.top_in - height
    return (
        left / WIDTH_IN,
        bottom / layout.height_in,
        width / WIDTH_IN,
        height / layout.height_in,
    )


def _title(figure: Figure, report: CloseReport, layout: _Layout) -> None:
    year, month = parse_period(report.period)
    top = 1 - 0.3 / layout.height_in
    figure.text(
        0.02,
        top,
        f"Close report · {MONTH_NAMES[month - 1]} {year} ({report.period})"
        + (" · SAMPLE DATA" if report.sample else ""),
        fontsize=18,
        fontweight="bold",
        color=TEXT,
        va="top",
    )
    local = report.start.astimezone(report.tz)
    started = f"{local:%a} {local.day} {local:%b %Y} 00:00 {report.tz.key}"
    figure.text(
        0.02,
        top - 0.42 / layout.height_in,
        f"{headline(report, with_period=False)}  The close began {started}.",
        fontsize=11,
        color=MUTED,
        va="top",
    )


def _legend(figure: Figure, report: CloseReport, layout: _Layout) -> None:
    """The key, naming only the kinds of row this close has."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    present = {_kind(row) for row in report.rows}
    handles: list[Patch | Line2D] = []
    labels: list[str] = []
    for kind, label in _KEY:
        if kind in present:
            face, edge, hatch = _STYLE[kind]
            handles.append(Patch(facecolor=face, edgecolor=edge, hatch=hatch))
            labels.append(label)
    if any(row.due_at is not None for row in report.rows):
        handles.append(
            Line2D([], [], color=DEADLINE, marker="|", linestyle="", markersize=12, mew=2.2)
        )
        labels.append("deadline")
    figure.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(layout.left_in / WIDTH_IN - 0.01, 1 - 1.02 / layout.height_in),
        ncol=max(len(handles), 1),
        frameon=False,
        fontsize=10,
        handlelength=2.2,
    )


def _x(moment: datetime, start: datetime) -> float:
    """Days from the close's start."""
    return (moment - start).total_seconds() / 86400


def _axis_end(report: CloseReport) -> float:
    """Midnight after the last OK or deadline (at least three days, at most the close)."""
    last_local = report.last_event.astimezone(report.tz)
    midnight = datetime.combine(last_local.date() + timedelta(days=1), time(0), report.tz)
    end = min(_x(midnight, report.start), _x(close_end(report.period, report.tz), report.start))
    return max(end, float(MIN_AXIS_DAYS))


def _ordered(rows: tuple[Row, ...]) -> list[Row]:
    """On-time rows quickest first, then late rows, then never-OK rows (late ones last)."""
    return sorted(rows, key=lambda r: (r.to_ok is None, r.late, r.to_ok or timedelta(0)))


def _draw_timeline(
    axes: Axes, report: CloseReport, layout: _Layout, is_working_day: Callable[[date], bool]
) -> None:
    end = _axis_end(report)
    rows = _ordered(report.rows)
    shaded = _shade_days(axes, report, end, is_working_day)
    groups: dict[str, tuple[list[int], list[float]]] = {}
    for index, row in enumerate(rows):
        kind = _kind(row)
        width = end if row.to_ok is None else max(row.to_ok.total_seconds() / 86400, 0.01)
        ys, widths = groups.setdefault(kind, ([], []))
        ys.append(index)
        widths.append(width)
    for kind, (ys, widths) in groups.items():
        face, edge, hatch = _STYLE[kind]
        axes.barh(
            ys,
            widths,
            left=0,
            height=0.62,
            color=face,
            edgecolor=edge,
            hatch=hatch,
            lw=0.6,
            zorder=2,
        )
    due = [(i, _x(r.due_at, report.start)) for i, r in enumerate(rows) if r.due_at is not None]
    if due:
        marker = max(6.0, layout.row_in * 72 * 0.95)
        axes.plot(
            [x for _, x in due],
            [i for i, _ in due],
            linestyle="",
            marker="|",
            markersize=marker,
            mew=2.2,
            color=DEADLINE,
            zorder=4,
        )
    if len(rows) <= ANNOTATE_MAX_ROWS:
        _annotate(axes, rows, end, layout)
    axes.set_ylim(max(len(rows), 1) - 0.5, -0.5)
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels([_short(r.label) for r in rows], fontsize=layout.font)
    for label, row in zip(axes.get_yticklabels(), rows, strict=True):
        if row.late or row.never_ok:
            label.set_color(LATE if row.late else MUTED)
            label.set_fontweight("bold")
    axes.tick_params(axis="y", length=0)
    axes.tick_params(axis="x", labeltop=layout.tall)
    axes.set_xlim(0, end)
    axes.set_xlabel(caption(shaded))
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


_STYLE = {
    "on_time": (ON_TIME, ON_TIME, None),
    "late": (LATE, "white", "///"),
    "never_late": (NEVER_LATE, LATE, "xx"),
    "never": (NEVER, MUTED, "xx"),
}


_KEY = (
    ("on_time", "OK on time"),
    ("late", "OK late"),
    ("never_late", "never OK, past its deadline"),
    ("never", "never OK (no deadline)"),
)


def _kind(row: Row) -> str:
    if row.never_ok:
        return "never_late" if row.late else "never"
    return "late" if row.late else "on_time"


def _annotate(axes: Axes, rows: list[Row], end: float, layout: _Layout) -> None:
    size = max(6.0, layout.font - 1)
    for index, row in enumerate(rows):
        if row.never_ok:
            # At the bar's start: the right end is where late deadlines tend to sit.
            text, x, align = f"not OK: {row.status}", end * 0.006, "left"
            style: dict[str, Any] = {
                "color": TEXT,
                "bbox": {"facecolor": "white", "edgecolor": "none", "pad": 0.8},
            }
        else:
            width = row.to_ok.total_seconds() / 86400 if row.to_ok is not None else 0.0
            text = bar_label(row)
            face = LATE if row.late else ON_TIME
            # On-time rows: inside the bar (their deadline lies beyond it); late rows: after
            # the bar (their deadline lies inside it), unless there is no room left.
            inside = width > end * 0.16 if not row.late else width > end * 0.84
            if inside:
                x, align = width - end * 0.006, "right"
                style = {
                    "color": "white",
                    "bbox": {"facecolor": face, "edgecolor": "none", "pad": 0.5},
                }
            else:
                x, align = width + end * 0.006, "left"
                style = {"color": face}
        axes.text(
            x,
            index,
            text,
            va="center",
            ha=align,
            fontsize=size,
            fontweight="bold",
            zorder=5,
            **style,
        )


def bar_label(row: Row) -> str:
    """A bar's label: time to OK; for a late row also the time past its deadline."""
    if row.late_by is not None:
        return f"{duration(row.to_ok)} · {duration(row.late_by)} late"
    return duration(row.to_ok) + (" · late" if row.late else "")


def caption(shaded: bool) -> str:
    """The timeline's axis caption; grey days are mentioned only when some are shaded."""
    if shaded:
        return "Days of the close (grey: weekends and holidays; WD = working day)"
    return "Days of the close (WD = working day)"


def _mon_to_fri(day: date) -> bool:
    return day.weekday() not in WEEKEND


def _shade_days(
    axes: Axes, report: CloseReport, end: float, is_working_day: Callable[[date], bool]
) -> bool:
    """Shade and label each day of the axis; whether any non-working day was shaded."""
    shaded = False
    first = report.start.astimezone(report.tz).date()
    centres: list[float] = []
    labels: list[str] = []
    working = 0
    day = first
    while True:
        left = _x(datetime.combine(day, time(0), report.tz), report.start)
        if left >= end - 1e-9:
            break
        right = min(
            _x(datetime.combine(day + timedelta(days=1), time(0), report.tz), report.start), end
        )
        is_working = is_working_day(day)
        if is_working:
            working += 1
        else:
            axes.axvspan(left, right, color=SHADE, zorder=0, lw=0)
            shaded = True
        axes.axvline(left, color=GRID, lw=0.6, zorder=1)
        centres.append((left + right) / 2)
        labels.append(f"{day:%a} {day.day}\n{f'WD{working}' if is_working else ''}")
        day += timedelta(days=1)
    axes.set_xticks(centres)
    axes.set_xticklabels(labels, fontsize=8.5 if len(centres) <= 16 else 7)
    axes.tick_params(axis="x", length=0)
    return shaded


def _draw_trend(axes: Axes, report: CloseReport) -> None:
    points = report.trend
    xs = list(range(len(points)))
    median = [_days(p.median) for p in points]
    worst = [_days(p.worst) for p in points]
    axes.axvspan(len(points) - 1.4, len(points) - 0.6, color=SHADE, zorder=0, lw=0)
    axes.plot(xs, worst, color=WORST, marker="s", linestyle="--", lw=2, label="worst domain")
    axes.plot(xs, median, color=MEDIAN, marker="o", linestyle="-", lw=2, label="median")
    for x, value in ((xs[-1], median[-1]), (xs[-1], worst[-1])) if xs else ():
        if value == value:  # NaN for a close where nothing became OK
            axes.annotate(
                f"{value:.1f} d",
                (x, value),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
                color=TEXT,
            )
    axes.set_xticks(xs)
    axes.set_xticklabels([_period_label(p.period, p.never_ok) for p in points], fontsize=8.5)
    axes.set_xlim(-0.5, len(points) - 0.5 + 0.45)
    top = max([v for v in worst + median if v == v] or [1.0])
    axes.set_ylim(0, top * 1.2)
    axes.set_ylabel("days from close start to OK")
    axes.set_title(
        f"Time to OK, last {len(points)} close{'' if len(points) == 1 else 's'}",
        fontsize=12,
        loc="left",
        color=TEXT,
    )
    axes.grid(axis="y", color=GRID, lw=0.6)
    axes.legend(loc="lower left", fontsize=9, frameon=False)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _period_label(period: str, never_ok: int) -> str:
    year, month = parse_period(period)
    return f"{MONTH_NAMES[month - 1][:3]}\n{year}" + (f"\n{never_ok} not OK" if never_ok else "")


def _days(value: timedelta | None) -> float:
    return float("nan") if value is None else value.total_seconds() / 86400


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
