"""Roll-over: archive finished closes from the change log and start the new close.

Every change belongs to the close during which it was made (its ``at`` in the close
timezone). :func:`build_archives` streams the history once and builds, for every
finished close that has changes and no archive yet, per domain: the final status,
``due_at``, ``ok_at`` (when it last became OK in that close) and ``late`` (OK after its
deadline, or never OK while it had one). With ``reset`` no domain enters a close OK,
even when no instance ran at its start to write the reset: an OK from before the close
counts only when it is set again during the close, at that time.

:func:`roll_over` then writes, in **one** commit: those archives, the period marker
and, with ``reset``, every domain back to Pending (``by: system``, a message naming the
new period, tracked jobs dropped). A domain changed during the new close before the
roll-over (e.g. ``epmpulse set`` while no instance ran) keeps that change: it is the new
close's work, not last month's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.close.archive import archive_key, archived_periods
from bot.close.calendar import CloseCalendar
from bot.close.live import PERIOD_META
from bot.model import RecordKey, Status, format_time, parse_time
from bot.service import Change, StatusService
from bot.store import WorkingState

logger = logging.getLogger(__name__)

SYSTEM = "system"


@dataclass(frozen=True)
class RollResult:
    """What one roll-over did."""

    period: str
    archived: list[str]
    reset: int


def build_archives(
    entries: Iterable[Mapping[str, Any]],
    calendar: CloseCalendar,
    keys: list[RecordKey],
    before: str,
    skip: set[str],
    *,
    reset: bool = False,
) -> dict[str, dict[str, Any]]:
    """Archives of every close before period ``before`` with changes, except ``skip``.

    With ``reset`` every domain enters each close Pending, as the reset makes it.
    """
    running: dict[RecordKey, str] = {}
    ok_at: dict[RecordKey, datetime] = {}
    approved: dict[RecordKey, str] = {}  # who signed off the OK a domain holds (SPEC §18)
    archives: dict[str, dict[str, Any]] = {}
    bucket: str | None = None
    bounds = (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC))
    for entry in entries:
        try:
            at = parse_time(entry["at"])
            key = (str(entry["app"]), str(entry["domain"]))
            new = str(entry["new_status"])
        except (KeyError, ValueError):
            logger.warning("skipping a history entry without app, domain, status or time")
            continue
        # Most entries fall in the bucket of the one before: compare instants, not months.
        period = bucket if bounds[0] <= at < bounds[1] else calendar.period_at(at)
        if period is None or period >= before:
            break
        if period != bucket:
            bounds = (calendar.close_start(period), calendar.close_end(period))
            if bucket is not None and bucket not in skip:
                archives[bucket] = _archive(bucket, calendar, keys, running, ok_at, approved)
            bucket = period
            if reset:  # whether or not an instance ran then to write it
                running = dict.fromkeys(running, Status.PENDING.value)
                ok_at, approved = {}, {}
            else:  # a domain that enters the close already OK is OK from its start
                ok_at = {k: bounds[0] for k, v in running.items() if v == Status.OK}
        was_ok = running[key] == Status.OK if key in running else entry.get("old_status") == "OK"
        if new == Status.OK and not was_ok:
            ok_at[key] = at
        signed = entry.get("approved_by")
        if new == Status.OK and isinstance(signed, str):
            approved[key] = signed
        elif new != Status.OK or not was_ok:
            approved.pop(key, None)
        running[key] = new
    if bucket is not None and bucket not in skip:
        archives[bucket] = _archive(bucket, calendar, keys, running, ok_at, approved)
    return archives


def _archive(
    period: str,
    calendar: CloseCalendar,
    keys: list[RecordKey],
    running: Mapping[RecordKey, str],
    ok_at: Mapping[RecordKey, datetime],
    approved: Mapping[RecordKey, str],
) -> dict[str, Any]:
    domains = []
    for key in keys:
        status = running.get(key, Status.PENDING.value)
        due = calendar.due_at(period, key)
        became_ok = ok_at.get(key)
        if due is None:
            late = False
        elif became_ok is not None:
            late = became_ok > due
        else:
            late = status != Status.OK
        domain = {
            "app": key[0],
            "domain": key[1],
            "status": status,
            "due_at": format_time(due) if due else None,
            "ok_at": format_time(became_ok) if became_ok else None,
            "late": late,
        }
        if status == Status.OK and key in approved:
            # Signed off (SPEC §18): its ok_at is the time of the approval.
            domain["approved_by"] = approved[key]
        domains.append(domain)
    return {"period": period, "domains": domains}


def _last_change(records: Iterable[Mapping[str, Any]]) -> datetime | None:
    """When the board last changed (None for a board nobody has set yet)."""
    times = (parse_time(r["updated_at"]) for r in records if r.get("updated_at"))
    return max(times, default=None)


def needs_roll_over(service: StatusService, calendar: CloseCalendar, now: datetime) -> bool:
    """Whether the board's period marker is not the close running at ``now``."""
    return service.meta(PERIOD_META) != calendar.period_at(now)


def roll_over(
    service: StatusService, calendar: CloseCalendar, now: datetime, *, reset: bool
) -> RollResult:
    """Archive every unarchived finished close and, on a new close, reset (one commit)."""
    state = service.store.snapshot()
    current = calendar.period_at(now)
    new_close = state.meta.get(PERIOD_META) != current
    keys = service.layout.domain_keys()
    done = set(archived_periods(state.meta))
    history = service.store.iter_history()
    archives = build_archives(history, calendar, keys, current, done, reset=reset)
    started = calendar.close_start(current)
    if not new_close and not archives:
        return RollResult(current, [], 0)

    def mutation(work: WorkingState, at: datetime) -> tuple[RollResult, list[Change]]:
        written = []
        for period, archive in archives.items():
            if archive_key(period) not in work.meta:  # another process may have been first
                work.put_meta(archive_key(period), archive)
                written.append(period)
        changes: list[Change] = []
        # Decided on the board as it is now, inside the commit: a change made during the
        # new close (also while the history was read) is its work and is not reset.
        used = _last_change(work.records.values()) is not None
        if reset and used and work.meta.get(PERIOD_META) != current:
            message = f"Close of {current} begins"
            for key in keys:
                record = service.current(work, key)
                if record.updated_at is not None and record.updated_at >= started:
                    continue
                if (
                    record.status is Status.PENDING
                    and not record.jobs
                    and record.message == message
                ):
                    continue  # already reset (a second process got here first)
                changes.append(
                    service.record_change(work, key, Status.PENDING, message, SYSTEM, at)
                )
        work.put_meta(PERIOD_META, current)
        return RollResult(current, written, len(changes)), changes

    result = service.transact(mutation)
    logger.info(
        "close %s: archived %s; %d domain(s) reset",
        current,
        ", ".join(result.archived) or "nothing",
        result.reset,
    )
    return result
