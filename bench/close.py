"""Benchmark the close calendar on a 1,000-domain estate (SPEC §11).

The estate: 20 apps x 50 domains, every domain with a deadline (WD1..WD10, spread over
the day), GB holidays, and a dependency chain 50 deep (each domain of the first app
waits on the one before it). Prints:
  1. the time to compute the live close summary (``GET /api/v1/close``, ``/epmpulse
     close``), median and p95 over repeated runs; goal < 50 ms;
  2. the time to render the canvas with its Due column and waits;
  3. the close part's wake-ups over a whole simulated month with an injected clock:
     how many, how many fell on a deadline or the roll-over, and the wake-ups per hour
     while nothing is due; goal: none between deadlines.

Usage: python bench/close.py [--runs N] [--dir PATH]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml
from apscheduler.schedulers.background import BackgroundScheduler

from bot.canvas.render import render_board
from bot.close.part import ClosePart
from bot.config import load_config
from bot.model import Status, Update
from bot.service import StatusService
from bot.store import JsonStore

APPS, DOMAINS, CHAIN = 20, 50, 50
GOAL_SUMMARY_MS = 50.0
MONTH_START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # the close of 2026-11 (GMT)


def estate_yaml() -> str:
    """The 1,000-domain estate with deadlines and the 50-deep chain."""
    apps = {f"App{a:02d}": {"domains": [f"D{d:02d}" for d in range(DOMAINS)]} for a in range(APPS)}
    deadlines = {
        f"App{a:02d}/D{d:02d}": f"WD{1 + (a + d) % 10} {8 + d % 10:02d}:{(d * 7) % 60:02d}"
        for a in range(APPS)
        for d in range(DOMAINS)
    }
    chain = {f"App00/D{d:02d}": [f"App00/D{d - 1:02d}"] for d in range(1, CHAIN)}
    close = {
        "timezone": "Europe/London",
        "holidays": {"country": "GB", "subdivision": "ENG"},
        "deadlines": deadlines,
        "depends_on": chain,
    }
    return yaml.safe_dump({"apps": apps, "close": close}, sort_keys=False)


def timed(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median and p95 milliseconds of ``runs`` calls of ``action``."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


class Clock:
    """The injected clock of the simulated month."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        """The simulated time."""
        return self.now


def main() -> None:
    """Build the estate, then measure summary, render and wake-ups."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="epmpulse-bench-close-") as tmp:
        path = Path(tmp) / "epmpulse.yml"
        path.write_text(estate_yaml(), encoding="utf-8")
        started = time.perf_counter()
        config = load_config(
            {"EPMPULSE_CONFIG": str(path), "EPMPULSE_DATA_DIR": str(Path(tmp) / "data")}
        )
        loaded = time.perf_counter() - started
        print(f"config with {APPS * DOMAINS} deadlines loaded in {loaded:.2f} s")
        clock = Clock(datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
        store = JsonStore(config.settings.data_dir)
        service = StatusService(config.estate, store, clock=clock)
        statuses = [Status.OK, Status.LOADING, Status.ERROR, Status.PENDING]
        updates = [
            Update(app=app, domain=domain, status=statuses[n % len(statuses)], message="bench")
            for n, (app, domain) in enumerate(config.estate.domain_keys())
        ]
        service.set_many(updates, by="system")

        tracker = service.close
        summary = tracker.summary()
        median, p95 = timed(tracker.summary, args.runs)
        goal = "met" if median < GOAL_SUMMARY_MS else "MISSED"
        print(
            f"live close summary ({summary.total} domains, {len(summary.overdue)} overdue, "
            f"{len(summary.waiting)} waiting): median {median:.1f} ms, p95 {p95:.1f} ms "
            f"(goal < {GOAL_SUMMARY_MS:g} ms: {goal})"
        )
        board = service.board()
        title, zone = config.estate.canvas.title, config.estate.canvas.timezone

        def render() -> None:
            render_board(board, title=title, timezone=zone, close=tracker.canvas())

        median, p95 = timed(render, max(args.runs // 5, 5))
        size = len(render_board(board, title=title, timezone=zone, close=tracker.canvas()))
        print(f"canvas render with Due column: median {median:.1f} ms, p95 {p95:.1f} ms, {size} B")

        # A whole month on the injected clock, the part re-arming itself after each run.
        clock.now = MONTH_START
        part = ClosePart(
            service,
            BackgroundScheduler(timezone=UTC),
            client=None,
            channel_id=None,
            reset=False,
            clock=clock,
        )
        part.start()
        deadlines = {
            due
            for key in tracker.calendar.deadlines
            if (due := tracker.calendar.due_at("2026-11", key)) is not None
        }
        end = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
        wakes = on_schedule = 0
        while part.next_wake is not None and part.next_wake <= end:
            clock.now = part.next_wake
            wakes += 1
            on_schedule += clock.now in deadlines or clock.now == end
            part.wake()
        hours = (end - MONTH_START).total_seconds() / 3600
        idle_hours = hours - len(deadlines)
        print(
            f"wake-ups over December 2026 (GMT): {wakes} for {len(deadlines)} distinct deadline "
            f"times and 1 roll-over; {wakes - on_schedule} between deadlines "
            f"= {(wakes - on_schedule) / idle_hours:.3f} per hour when nothing is due"
        )
        store.close()


if __name__ == "__main__":
    main()
