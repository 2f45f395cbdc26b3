"""Close report chart: render time and PNG size for 10, 100 and 500 domains, six closes each.

Each size gets six sample archives (``bot.report.samples``), so the trend panel has its
full six closes. The first render in the process also pays for importing matplotlib and
loading fonts; it is shown separately ("import + first render"). Then each size is
rendered ``--repeat`` times and the median and worst times are printed, with the PNG's
size in bytes and pixels.

Goal (SPEC §14): under a second for 100 domains. Exit status 0 when it is met.

    python bench/report.py [--sizes 10 100 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from zoneinfo import ZoneInfo

from bot.close.archive import archive_key
from bot.report.model import CloseReport, build_report
from bot.report.samples import sample_archives, sample_domains

GOAL_DOMAINS, GOAL_SECONDS = 100, 1.0
TZ = ZoneInfo("Europe/London")


def report_for(domains: int) -> CloseReport:
    """The report of the newest of six sample closes of ``domains`` domains."""
    archives = sample_archives(sample_domains(domains), "2026-10", closes=6, tz=TZ)
    meta = {archive_key(period): archive for period, archive in archives.items()}
    return build_report(meta, None, TZ)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when 100 domains render in under a second."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    from bot.report.chart import render_chart  # matplotlib loads at the first render

    render_chart(report_for(args.sizes[0]))
    print(f"import + first render ({args.sizes[0]} domains): {time.perf_counter() - started:.3f} s")

    from PIL import Image

    ok = True
    print(f"{'domains':>8} {'median s':>9} {'worst s':>8} {'PNG bytes':>10} {'pixels':>11}")
    for size in args.sizes:
        report = report_for(size)
        times = []
        png = b""
        for _ in range(args.repeat):
            begun = time.perf_counter()
            png = render_chart(report)
            times.append(time.perf_counter() - begun)
        width, height = Image.open(io.BytesIO(png)).size
        median = statistics.median(times)
        print(f"{size:>8} {median:>9.3f} {max(times):>8.3f} {len(png):>10,} {width:>5}x{height:<5}")
        if size == GOAL_DOMAINS and max(times) >= GOAL_SECONDS:
            ok = False
    print(f"goal: {GOAL_DOMAINS} domains under {GOAL_SECONDS:g} s -> {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
