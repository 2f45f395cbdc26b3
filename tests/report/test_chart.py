"""The chart: a wide, non-empty, deterministic PNG for any archive."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from bot.close.archive import archive_key
from bot.report.chart import (
    _STYLE,
    LATE,
    ON_TIME,
    _draw_timeline,
    _kind,
    _Layout,
    _mon_to_fri,
    _ordered,
    bar_label,
    caption,
    render_chart,
)
from bot.report.model import CloseReport, build_report
from bot.report.samples import sample_archives, sample_domains
from tests.report.archives import october, simple

LONDON = ZoneInfo("Europe/London")


def report_of(*archives: dict, period: str | None = None) -> CloseReport:
    """The report of ``period`` (default: the last) over ``archives``."""
    meta = {archive_key(a["period"]): a for a in archives}
    return build_report(meta, period, LONDON)


def image(png: bytes) -> Image.Image:
    """The decoded PNG, as RGB."""
    return Image.open(io.BytesIO(png)).convert("RGB")


def count_colour(picture: Image.Image, hex_colour: str) -> int:
    """How many pixels have exactly ``hex_colour``."""
    wanted = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return sum(n for n, colour in picture.getcolors(maxcolors=1 << 20) or [] if colour == wanted)


def test_the_chart_is_a_png_at_least_1200_pixels_wide() -> None:
    """A real PNG, 1400 px wide, tall enough for its rows."""
    png = render_chart(report_of(october()))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    picture = image(png)
    assert picture.width >= 1200
    assert picture.height >= 600


def test_the_chart_is_drawn_not_blank() -> None:
    """On-time bars are drawn in their colour and the picture has many colours."""
    picture = image(render_chart(report_of(october())))
    assert count_colour(picture, ON_TIME) > 2000
    assert len(picture.getcolors(maxcolors=1 << 20) or []) > 50


def test_the_same_archive_gives_the_same_bytes() -> None:
    """No timestamps or versions in the file: same input, same bytes; other input, others."""
    first = render_chart(report_of(october()))
    assert render_chart(report_of(october())) == first
    assert b"Software" not in first and b"matplotlib" not in first
    assert render_chart(report_of(simple("2026-10", [5, 9]))) != first


def test_late_rows_differ_in_colour_and_pattern() -> None:
    """Late rows are vermillion and hatched; on-time rows plain blue; never-OK cross-hatched."""
    report = report_of(october())
    kinds = {row.label: _kind(row) for row in report.rows}
    assert kinds["Planning / Forecast"] == "late"
    assert kinds["FCCS / Consolidation"] == "never_late"
    assert kinds["ARCS / Reconciliation"] == "never"
    assert _STYLE["on_time"][2] is None
    assert _STYLE["late"][0] != _STYLE["on_time"][0] and _STYLE["late"][2]
    assert _STYLE["never_late"][2] and _STYLE["never"][2] != _STYLE["late"][2]
    with_late = image(render_chart(report))
    on_time_only = image(render_chart(report_of(simple("2026-10", [5, 30, 50]))))
    assert count_colour(with_late, LATE) > 500
    assert count_colour(on_time_only, LATE) == 0


def test_a_single_close_without_history_still_draws_its_trend_point() -> None:
    """One archive only: the trend panel has one point and the chart renders."""
    report = report_of(simple("2026-10", [5, 30, 50]))
    assert len(report.trend) == 1
    assert image(render_chart(report)).width >= 1200


def test_an_archive_with_no_domains_renders() -> None:
    """An empty archive is drawn (empty timeline, no trend values) instead of failing."""
    png = render_chart(report_of({"period": "2026-10", "domains": []}))
    assert image(png).width >= 1200


def test_a_close_where_nothing_became_ok_renders() -> None:
    """Every row never OK: bars run to the end, the trend has no value for the close."""
    archive = {"period": "2026-10", "domains": october()["domains"][4:]}
    assert image(render_chart(report_of(archive))).width >= 1200


def test_a_late_bar_says_how_late_beside_its_time_to_ok() -> None:
    """Planning / Forecast: OK after 3 d 9 h, 16 h 30 m past its deadline; on time: no mark."""
    rows = {r.label: r for r in report_of(october()).rows}
    assert bar_label(rows["Planning / Forecast"]) == "3d 9h · 16h 30m late"
    assert bar_label(rows["Planning / Actuals"]) == "1d 15h"


def test_the_caption_mentions_grey_days_only_when_some_are_shaded() -> None:
    """No non-working day on the axis: the caption does not promise grey weekends."""
    assert "grey" in caption(True)
    assert "grey" not in caption(False)
    from matplotlib.figure import Figure

    report = report_of(october())
    for working_day, expected in ((lambda d: True, caption(False)), (_mon_to_fri, caption(True))):
        axes = Figure().add_subplot()
        _draw_timeline(axes, report, _Layout.for_rows(len(report.rows)), working_day)
        assert axes.get_xlabel() == expected


def test_rows_are_ordered_as_the_documentation_says() -> None:
    """On time quickest first, then late rows, then rows that never became OK."""
    labels = [r.label for r in _ordered(report_of(october()).rows)]
    assert labels == [
        "Planning / Budget",
        "Planning / Actuals",
        "FCCS / Actuals",
        "Planning / Forecast",
        "ARCS / Reconciliation",
        "FCCS / Consolidation",
    ]
    page = (Path(__file__).resolve().parents[2] / "docs" / "report.md").read_text(encoding="utf-8")
    assert "on-time rows first, quickest at the top, then late rows" in " ".join(page.split())


def test_holidays_are_shaded_like_weekends() -> None:
    """Naming a holiday changes the picture (its day is shaded and not numbered)."""
    report = report_of(october())
    plain = render_chart(report)
    holiday = date(2026, 11, 3)
    shaded = render_chart(report, is_working_day=lambda d: d.weekday() < 5 and d != holiday)
    assert shaded != plain


@pytest.mark.slow
def test_a_hundred_domains_with_six_closes_render_readably_tall() -> None:
    """100 domains and six closes: one image, still 1400 px wide and taller than for six."""
    archives = sample_archives(sample_domains(100), "2026-10", tz=LONDON)
    report = report_of(*archives.values())
    assert len(report.rows) == 100 and len(report.trend) == 6
    picture = image(render_chart(report))
    assert picture.width == 1400
    assert picture.height > image(render_chart(report_of(october()))).height


def test_importing_the_slack_app_and_the_api_does_not_import_matplotlib() -> None:
    """matplotlib loads only when a chart is drawn."""
    code = (
        "import sys\n"
        "import bot.slack.part, bot.slack.app, bot.slack.report, bot.api.app, bot.report.chart\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
