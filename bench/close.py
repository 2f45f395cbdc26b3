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

The close conductor (SPEC §17) on a second estate of 1,000 domains whose first app is a
chain 50 deep: App00/D00 is set OK by hand and each of D01..D49 has a job with
``auto_start: true`` that the EPM sandbox finishes at the first poll; start_delay 0. The
real conductor, launcher, poller, scheduler and both sandboxes run on loopback. Prints:
  4. the time from the commit that made the last upstream OK to the next job's POST
     arriving at EPM, median / p99 / max; goal p99 <= 1 s;
  5. the conductor's wake-ups while nothing is due (the chain done, the board idle for
     a few seconds); goal 0;
  6. EPM POSTs per auto-started domain; goal exactly one each.

Usage: python bench/close.py [--runs N] [--dir PATH] [--idle SECONDS]
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
from typing import Any

import yaml
from apscheduler.schedulers.background import BackgroundScheduler

from bot.canvas.render import render_board
from bot.close.conducting import Conductor
from bot.close.part import ClosePart
from bot.config import load_config
from bot.epm.client import EpmClient
from bot.epm.launch import JobLauncher
from bot.epm.poller import Poller
from bot.model import Status, Update
from bot.sandbox.epm import EpmSandbox
from bot.sandbox.slack import SlackSandbox
from bot.service import Change, StatusService
from bot.slack.client import build_web_client
from bot.slack.posting import poster
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
    parser.add_argument("--idle", type=float, default=5.0, help="idle seconds watched (4.)")
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
        service = StatusService(config.estate.layout, store, clock=clock)
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
            post=None,
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
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="epmpulse-bench-conduct-") as tmp:
        conductor_figures(Path(tmp), args.idle)


def conductor_yaml(epm: EpmSandbox) -> str:
    """1,000 domains; App00 is a 50-deep chain of auto-started jobs on ``epm``."""
    apps: dict[str, Any] = {
        f"App{a:02d}": {"domains": [f"D{d:02d}" for d in range(DOMAINS)]} for a in range(APPS)
    }
    apps["App00"]["server"] = "planning"
    apps["App00"]["jobs"] = {
        f"D{d:02d}": {"type": "RULES", "name": f"Step {d:02d}", "auto_start": True}
        for d in range(1, CHAIN)
    }
    server = {
        "kind": "planning",
        "base_url": epm.base_url,
        "application": "Vision",
        "auth": {"type": "basic", "username": epm.username, "password": epm.password},
    }
    close = {
        "timezone": "UTC",
        "start_delay_minutes": 0,
        "depends_on": {f"App00/D{d:02d}": [f"App00/D{d - 1:02d}"] for d in range(1, CHAIN)},
    }
    document = {"apps": apps, "epm": {"servers": {"planning": server}}, "close": close}
    return yaml.safe_dump(document, sort_keys=False)


def conductor_figures(tmp: Path, idle_seconds: float) -> None:
    """Run the chain end to end on real time and print figures 4-6."""
    with EpmSandbox() as epm, SlackSandbox() as slack:
        channel = "C0BENCH"
        slack.add_channel(channel, "close")
        for d in range(1, CHAIN):
            epm.script_start(f"Step {d:02d}", "ok")
        path = tmp / "epmpulse.yml"
        path.write_text(conductor_yaml(epm), encoding="utf-8")
        config = load_config(
            {
                "EPMPULSE_CONFIG": str(path),
                "EPMPULSE_DATA_DIR": str(tmp / "data"),
                "SLACK_BOT_TOKEN": slack.bot_token,
                "SLACK_API_URL": slack.api_url,
                "SLACK_CHANNEL_ID": channel,
            }
        )
        store = JsonStore(config.settings.data_dir)
        service = StatusService(config.estate.layout, store)
        clients = {n: EpmClient(n, s, data_dir=tmp) for n, s in config.estate.epm.servers.items()}
        ok_at: dict[str, float] = {}  # APP/DOMAIN -> monotonic time its OK was durable

        def on_commit(changes: list[Change]) -> None:
            now = time.monotonic()
            for change in changes:
                if change.new.status is Status.OK and change.status_changed:
                    ok_at.setdefault(f"{change.new.app}/{change.new.domain}", now)

        service.add_listener(on_commit)
        scheduler = BackgroundScheduler(timezone=UTC)
        scheduler.start()
        conductor = Conductor(
            service,
            JobLauncher(service, clients, estate=config.estate),
            scheduler,
            post=poster(build_web_client(config.settings), channel),
        )
        poller = Poller(service, clients)
        conductor.start()
        last = f"App00/D{CHAIN - 1:02d}"
        started = time.monotonic()
        service.set("App00", "D00", "OK", by="slack:U0BENCH")
        deadline = started + 300
        while last not in ok_at and time.monotonic() < deadline:
            poller.run_cycle()  # the EPM poller, run back to back: jobs end at once
            time.sleep(0.02)
        chain_seconds = time.monotonic() - started
        wakes, idle = conductor.wakes, conductor.idle_wakes
        time.sleep(1.5)  # let a last wake-up for the final commit run
        settled = conductor.wakes
        time.sleep(idle_seconds)
        idle_wakes = conductor.wakes - settled
        conductor.stop()
        scheduler.shutdown(wait=True)
        poller.close()
        posts = [r for r in epm.requests() if r.method == "POST" and r.path.endswith("/jobs")]
        names = [str(s.body.get("jobName")) for s in epm.starts()]
        latencies = []
        for request, name in zip(posts, names, strict=True):
            upstream = f"App00/D{int(name.split()[-1]) - 1:02d}"
            latencies.append(request.started - ok_at[upstream])
        for client in clients.values():
            client.close()
        store.close()
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] if latencies else float("nan")
    print(
        f"conductor: chain of {CHAIN} in {APPS * DOMAINS} domains done in {chain_seconds:.1f} s; "
        f"{conductor.starts} automatic starts, {len(slack.messages(channel))} announcements"
    )
    goal = "met" if latencies and p99 <= 1.0 else "MISSED"
    print(
        f"last upstream OK's commit -> next job's POST at EPM: median "
        f"{statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max "
        f"{latencies[-1] * 1000:.0f} ms over {len(latencies)} links (goal p99 <= 1 s: {goal})"
    )
    print(
        f"conductor wake-ups: {wakes} while the chain ran ({idle} found nothing to do); "
        f"{idle_wakes} in {idle_seconds:g} s with nothing due (goal 0: "
        f"{'met' if idle_wakes == 0 else 'MISSED'})"
    )
    per_domain = {n: names.count(n) for n in set(names)}
    exact = len(per_domain) == CHAIN - 1 and set(per_domain.values()) == {1}
    print(
        f"EPM POSTs: {len(names)} for {CHAIN - 1} auto-started domains "
        f"(goal exactly one each: {'met' if exact else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
