"""Synthetic close archives, clearly marked ``"sample": true``, for the demo and benchmarks.

Deterministic for a seed: each domain gets a deadline on one of the first working
days of the close month and becomes OK around it (some late); later closes get a
little faster, and in the newest one a domain or two never became OK.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.close.periods import close_month, shift
from bot.model import format_time

Archive = dict[str, Any]


def working_day(year: int, month: int, n: int) -> date:
    """The ``n``-th Monday-to-Friday day of a month (n >= 1)."""
    day = date(year, month, 1)
    count = 0
    while True:
        if day.weekday() < 5:
            count += 1
            if count == n:
                return day
        day += timedelta(days=1)


def sample_archives(
    domains: Sequence[tuple[str, str]],
    last_period: str,
    *,
    closes: int = 6,
    tz: ZoneInfo | None = None,
    seed: int = 14,
) -> dict[str, Archive]:
    """``closes`` sample archives ending with ``last_period``, oldest first, by period."""
    zone = tz or ZoneInfo("UTC")
    rng = random.Random(seed)
    plan = [(app, domain, rng.randint(2, 5), rng.uniform(-0.8, 0.6)) for app, domain in domains]
    archives: dict[str, Archive] = {}
    for step in range(closes):
        period = shift(last_period, step - closes + 1)
        speedup = 0.35 * step / max(closes - 1, 1)  # later closes finish earlier
        newest = step == closes - 1
        stuck = {rng.randrange(len(plan))} if newest and plan else set()
        archives[period] = {
            "period": period,
            "sample": True,
            "domains": [
                _domain(rng, period, zone, entry, speedup, index in stuck)
                for index, entry in enumerate(plan)
            ],
        }
    return archives


def _domain(
    rng: random.Random,
    period: str,
    zone: ZoneInfo,
    entry: tuple[str, str, int, float],
    speedup: float,
    stuck: bool,
) -> dict[str, Any]:
    app, domain, wd, bias = entry
    year, month = close_month(period)
    due_local = datetime.combine(working_day(year, month, wd), time(17, 0), zone)
    due = due_local.astimezone(UTC)
    if stuck:
        return _entry(app, domain, rng.choice(["Error", "Warning", "Loading"]), due, None, True)
    offset_days = bias - speedup + rng.gauss(0, 0.5)
    ok = due + timedelta(days=offset_days)
    start = datetime.combine(date(year, month, 1), time(0), zone).astimezone(UTC)
    ok = max(ok, start + timedelta(hours=2))
    ok = ok.replace(second=0, microsecond=0)
    return _entry(app, domain, "OK", due, ok, ok > due)


def _entry(
    app: str, domain: str, status: str, due: datetime, ok: datetime | None, late: bool
) -> dict[str, Any]:
    return {
        "app": app,
        "domain": domain,
        "status": status,
        "due_at": format_time(due),
        "ok_at": format_time(ok) if ok is not None else None,
        "late": late,
    }


def sample_domains(count: int) -> list[tuple[str, str]]:
    """``count`` plausible ``(app, domain)`` names for benchmarks."""
    apps = ["Planning", "FCCS", "ARCS", "Tax", "Narrative", "Data", "Workforce", "Capex"]
    kinds = ["Actuals", "Forecast", "Budget", "Consolidation", "Reconciliation", "FX", "GL"]
    return [
        (apps[i % len(apps)], f"{kinds[(i // len(apps)) % len(kinds)]} {i:03d}")
        for i in range(count)
    ]
