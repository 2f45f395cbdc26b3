"""The close conductor's model (SPEC §17): which auto-started jobs are due, held or done.

Pure reading of the board: :func:`plans` joins the configured ``auto_start`` jobs, the
``depends_on`` graph of the close calendar and the records to say, per domain, where its
automatic start stands in the current close. No clock of its own and no I/O, so the
leader's part (:mod:`bot.close.conducting`), ``/epmpulse close``, App Home and
``GET /api/v1/close`` all read the same answer.

Two meta values kept with the board hold what cannot be read from the records:

- :data:`HOLDS_META` ``{"period", "held": {APP/DOMAIN: {"by", "at"}}}`` — the vetoes;
- :data:`CONDUCTOR_META` ``{"period", "started": {APP/DOMAIN: {...}}, "posts": {key:
  epoch | "sent" | "dropped"}}`` — the "started by itself in this close" markers (a
  claim, then its outcome) and the posts claimed or made (announcement, failure notice).

Both name their period, so a new close begins with none. The time a start is due comes
from the records themselves: the ``since`` of the upstream record whose change to OK
was the last one (the commit that made the last upstream OK), plus the delay. A restart
therefore resumes with the time left, whoever computes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bot.close.calendar import CloseCalendar, key_name
from bot.close.live import HOLDS_META, PERIOD_META
from bot.model import DomainRecord, RecordKey, Status, parse_time
from bot.service import JOB_STARTS_META

if TYPE_CHECKING:
    from bot.estate import Estate
    from bot.service import StatusService

CONDUCTOR_META = "close.conductor"
DEFAULT_DELAY_MINUTES = 2
# A start reservation without a job id older than this is from a start that died; the
# launcher then lets a new start replace it (bot.epm.launch.RESERVATION_SECONDS, kept
# equal by a test; not imported, so reading plans loads no EPM client).
RESERVATION_SECONDS = 600.0

# Outcomes of a start kept in the marker (``state``).
CLAIMED = "claimed"  # the leader of ``epoch`` is starting it now
STARTED = "started"  # EPM answered with ``job``
REFUSED = "refused"  # EPM refused or could not be reached; it did not start
IN_DOUBT = "in_doubt"  # it may have started (a lost answer, a leader that died mid-start)
SKIPPED = "skipped"  # someone else started it first (``/epmpulse run``)


class Stage(StrEnum):
    """Where one auto-started domain stands in the current close."""

    WAITING = "waiting"  # an upstream domain is not OK in this close
    SCHEDULED = "scheduled"  # every upstream domain is OK: it starts at ``due_at``
    HELD = "held"  # it would be scheduled, but someone holds it
    RUNNING = "running"  # it tracks a job or is Loading (not started by the conductor)
    OK = "ok"  # already OK: nothing to start
    FAILED = "failed"  # Error or Warning in this close: a person decides what next
    DONE = "done"  # the conductor started it (or tried) in this close


@dataclass(frozen=True)
class Plan:
    """One domain whose job has ``auto_start: true``, as of one board state."""

    key: RecordKey
    job: str  # the job's name, as announced
    stage: Stage
    trigger_at: datetime | None = None  # the commit that made the last upstream OK
    due_at: datetime | None = None  # trigger_at + delay (scheduled or held)
    hold: Mapping[str, str] | None = None  # {"by", "at"} while held
    started: Mapping[str, Any] | None = None  # the marker once the conductor acted

    @property
    def name(self) -> str:
        """``APP/DOMAIN``."""
        return key_name(self.key)

    @property
    def pending(self) -> bool:
        """Whether a start lies ahead (scheduled or held)."""
        return self.stage in (Stage.SCHEDULED, Stage.HELD)


def auto_start_keys(estate: Estate) -> list[RecordKey]:
    """Every ``(app, domain)`` whose job starts by itself, in configuration order."""
    return [
        (app, domain)
        for app, cfg in estate.apps.items()
        for domain in cfg.domains
        if (job := cfg.jobs.get(domain)) is not None and job.auto_start
    ]


def start_delay(estate: Estate) -> timedelta:
    """``close.start_delay_minutes`` (default 2)."""
    minutes = estate.close.start_delay_minutes if estate.close else DEFAULT_DELAY_MINUTES
    return timedelta(minutes=minutes)


def board_period(meta: Mapping[str, Any], calendar: CloseCalendar, now: datetime) -> str:
    """The period the board belongs to (its roll-over marker), else the one closed at ``now``."""
    period = meta.get(PERIOD_META)
    return period if isinstance(period, str) else calendar.period_at(now)


def period_value(meta: Mapping[str, Any], name: str, period: str) -> dict[str, Any]:
    """The meta value ``name`` when it belongs to ``period``; an empty one otherwise."""
    value = meta.get(name)
    if isinstance(value, Mapping) and value.get("period") == period:
        return dict(value)
    return {"period": period}


def holds_of(meta: Mapping[str, Any], period: str) -> dict[str, dict[str, str]]:
    """The holds of ``period``: ``APP/DOMAIN`` → ``{"by", "at"}``."""
    held = period_value(meta, HOLDS_META, period).get("held")
    return {str(k): dict(v) for k, v in held.items()} if isinstance(held, Mapping) else {}


def started_of(meta: Mapping[str, Any], period: str) -> dict[str, dict[str, Any]]:
    """The start markers of ``period``: ``APP/DOMAIN`` → ``{"state", "at", "epoch", …}``."""
    started = period_value(meta, CONDUCTOR_META, period).get("started")
    return {str(k): dict(v) for k, v in started.items()} if isinstance(started, Mapping) else {}


def posts_of(meta: Mapping[str, Any], period: str) -> dict[str, Any]:
    """The posts of ``period``: key → the claiming epoch, ``"sent"`` or ``"dropped"``."""
    posts = period_value(meta, CONDUCTOR_META, period).get("posts")
    return dict(posts) if isinstance(posts, Mapping) else {}


def record_of(records: Mapping[RecordKey, Mapping[str, Any]], key: RecordKey) -> DomainRecord:
    """The record at ``key`` (Pending when none was ever set)."""
    data = records.get(key)
    return DomainRecord(app=key[0], domain=key[1]) if data is None else DomainRecord.from_json(data)


def plans(
    estate: Estate,
    calendar: CloseCalendar,
    records: Mapping[RecordKey, Mapping[str, Any]],
    meta: Mapping[str, Any],
    period: str,
    now: datetime | None = None,
) -> list[Plan]:
    """Every auto-started domain of the current close (``period``) and where it stands.

    ``records`` and ``meta`` are a snapshot's or, inside a commit, the working state's.
    With ``now``, a start reservation left by a start that died (no job id, expired)
    no longer counts as running.
    """
    delay = start_delay(estate)
    close_start = calendar.close_start(period)
    holds, started = holds_of(meta, period), started_of(meta, period)
    reserved = reserved_names(meta, now)
    found = []
    for key in auto_start_keys(estate):
        name = key_name(key)
        job = estate.apps[key[0]].jobs[key[1]].name
        record = record_of(records, key)
        if name in started:
            found.append(Plan(key, job, Stage.DONE, started=started[name]))
            continue
        if record.status is Status.OK:
            found.append(Plan(key, job, Stage.OK))
            continue
        if record.jobs or record.status is Status.LOADING or name in reserved:
            found.append(Plan(key, job, Stage.RUNNING))
            continue
        since = record.since or record.updated_at
        if record.status in (Status.ERROR, Status.WARNING) and since and since >= close_start:
            # A job run by hand that failed, or a person's Error: never restarted by itself.
            found.append(Plan(key, job, Stage.FAILED, hold=holds.get(name)))
            continue
        trigger = ok_since(records, calendar.upstream(key), close_start)
        if trigger is None:
            found.append(Plan(key, job, Stage.WAITING, hold=holds.get(name)))
            continue
        stage = Stage.HELD if name in holds else Stage.SCHEDULED
        found.append(Plan(key, job, stage, trigger, trigger + delay, holds.get(name)))
    return found


def reserved_names(meta: Mapping[str, Any], now: datetime | None) -> set[str]:
    """``APP/DOMAIN`` of the job starts under way (``jobs.starting``)."""
    starting = meta.get(JOB_STARTS_META)
    if not isinstance(starting, Mapping):
        return set()
    live = set()
    for name, held in starting.items():
        at = _time(held.get("at")) if isinstance(held, Mapping) else None
        expired = (
            now is not None
            and at is not None
            and not held.get("job")
            and (now - at).total_seconds() > RESERVATION_SECONDS
        )
        if not expired:
            live.add(str(name))
    return live


def _time(value: object) -> datetime | None:
    try:
        return parse_time(value)
    except ValueError:
        return None


def ok_since(
    records: Mapping[RecordKey, Mapping[str, Any]],
    upstream: tuple[RecordKey, ...],
    close_start: datetime,
) -> datetime | None:
    """When the last of ``upstream`` became OK in this close; None while one is not."""
    moments = []
    for key in upstream:
        record = record_of(records, key)
        # An OK carried over from an earlier close (no reset) does not count: it must be
        # this close's data that the job builds on.
        since = record.since or record.updated_at
        if record.status is not Status.OK or since is None or since < close_start:
            return None
        moments.append(since)
    return max(moments) if moments else None


def shown(service: StatusService, estate: Estate | None) -> list[Plan]:
    """What surfaces list (``/epmpulse close``, App Home, ``GET /api/v1/close``): every
    start scheduled or held, and every hold set ahead of time, soonest first.

    ``estate`` holds the job specs; without it (no EPM launcher, e.g. a REST API or Slack
    part built without one) nothing is listed.
    """
    if estate is None or not auto_start_keys(estate):
        return []
    calendar = service.close.calendar
    state = service.store.snapshot()
    period = board_period(state.meta, calendar, service.now())
    found = plans(estate, calendar, state.records, state.meta, period, service.now())
    listed = [p for p in found if p.pending or (p.hold is not None and p.stage is Stage.WAITING)]
    far = datetime.max.replace(tzinfo=UTC)  # held ahead of time: listed after the scheduled
    return sorted(listed, key=lambda p: (p.due_at or far, p.name))
