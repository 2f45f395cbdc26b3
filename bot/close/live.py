"""The current close as records and the board show it: due times, overdue, waits.

:class:`CloseTracker` joins the pure :class:`~bot.close.calendar.CloseCalendar` to the
board. Two readings of "overdue" exist on purpose:

- records and summaries (REST, ``status``, ``/epmpulse close``) answer at the time
  of asking: not OK and the deadline has passed (SPEC §11);
- the canvas must not change just because time passed, so it reads the durable
  markers the close part writes (:data:`PERIOD_META`, :data:`PASSED_META`): a row is
  overdue once the scheduler has recorded its deadline as passed and it is not OK.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from bot.close.calendar import CloseCalendar, Deadline, key_name
from bot.layout import Layout
from bot.model import DomainRecord, RecordKey, Status
from bot.store import BoardState, Store

PERIOD_META = "close.period"  # the period the board belongs to (written at roll-over)
PASSED_META = "close.passed"  # {"period", "keys": [APP/DOMAIN whose deadline passed]}
HOLDS_META = "close.holds"  # {"period", "held": {APP/DOMAIN: {"by", "at"}}} (SPEC §17)
NEXT_DEADLINES = 3


class CloseRecord(NamedTuple):
    """A domain record as shown: with this close's deadline and what it waits on."""

    record: DomainRecord
    due_at: datetime | None = None  # this close's deadline, None without one
    overdue: bool = False  # not OK and the deadline has passed
    waiting_on: Sequence[str] = ()  # APP/DOMAIN upstream, not yet OK

    @property
    def app(self) -> str:
        """The record's app."""
        return self.record.app

    @property
    def domain(self) -> str:
        """The record's domain."""
        return self.record.domain


class DomainClose(NamedTuple):
    """One domain in one close."""

    app: str
    domain: str
    status: Status
    deadline: Deadline | None
    due_at: datetime | None
    overdue: bool
    waiting_on: Sequence[str] = ()
    timezone: str = "UTC"
    held: bool = False  # its automatic start is held in this close (SPEC §17)

    @property
    def name(self) -> str:
        """``APP/DOMAIN``."""
        return f"{self.app}/{self.domain}"


class CloseSummary(NamedTuple):
    """The live close: SPEC §11's ``GET /api/v1/close`` plus the next deadlines."""

    period: str
    timezone: str
    working_day: int
    total: int
    ok: int
    domains: list[DomainClose]
    now: datetime

    @property
    def overdue(self) -> list[DomainClose]:
        """Overdue domains, earliest deadline first."""
        late = [d for d in self.domains if d.overdue]
        return sorted(late, key=lambda d: (d.due_at or self.now, d.name))

    @property
    def waiting(self) -> list[DomainClose]:
        """Domains still waiting on an upstream domain."""
        return [d for d in self.domains if d.waiting_on]

    def next_deadlines(self, count: int = NEXT_DEADLINES) -> list[DomainClose]:
        """The next ``count`` deadlines still ahead, of domains not yet OK."""
        ahead = [
            d
            for d in self.domains
            if d.due_at is not None and d.due_at > self.now and d.status is not Status.OK
        ]
        return sorted(ahead, key=lambda d: (d.due_at or self.now, d.name))[:count]


def statuses_of(records: Mapping[RecordKey, Mapping[str, Any]]) -> dict[RecordKey, Status]:
    """Each stored record's status (a missing record is Pending)."""
    return {key: Status(str(r.get("status", Status.PENDING))) for key, r in records.items()}


class CloseTracker:
    """Reads the current close from the store with the calendar and a clock."""

    def __init__(self, layout: Layout, store: Store, clock: Callable[[], datetime]) -> None:
        self.layout = layout
        self.store = store
        self.clock = clock
        apps = {name: app.domains for name, app in layout.apps.items()}
        self.calendar = CloseCalendar.from_config(layout.close, apps, layout.canvas_timezone)

    @property
    def configured(self) -> bool:
        """Whether the YAML file has a ``close:`` section."""
        return self.layout.close is not None

    # --- at the time of asking -------------------------------------------------------

    def domains(
        self,
        state: BoardState,
        now: datetime,
        period: str | None = None,
        passed: Iterable[str] | None = None,
    ) -> list[DomainClose]:
        """Every configured domain in ``period`` (default: the one being closed at ``now``).

        ``passed`` (names whose deadline the scheduler recorded as passed) replaces the
        clock as the test of "the deadline has passed".
        """
        period = period or self.calendar.period_at(now)
        statuses = statuses_of(state.records)
        marked = set(passed) if passed is not None else None
        found = []
        for key in self.layout.domain_keys():
            status = statuses.get(key, Status.PENDING)
            rule = self.calendar.deadline(key)
            due = self.calendar.due_for(period, rule) if rule is not None else None
            if marked is not None:
                passed_now = key_name(key) in marked
            else:
                passed_now = due is not None and due <= now
            found.append(
                DomainClose(
                    app=key[0],
                    domain=key[1],
                    status=status,
                    deadline=rule,
                    due_at=due,
                    overdue=passed_now and status is not Status.OK,
                    waiting_on=self.calendar.waiting_on(key, statuses),
                    timezone=self.calendar.timezone,
                )
            )
        return found

    def summary(self, period: str | None = None) -> CloseSummary:
        """The live close summary (``period`` only to ask about the one being closed)."""
        now = self.clock()
        state = self.store.snapshot()
        domains = self.domains(state, now, period)
        return CloseSummary(
            period=period or self.calendar.period_at(now),
            timezone=self.calendar.timezone,
            working_day=self.calendar.working_day_number(now),
            total=len(domains),
            ok=sum(1 for d in domains if d.status is Status.OK),
            domains=domains,
            now=now,
        )

    def show(self, records: Sequence[DomainRecord]) -> list[CloseRecord]:
        """``records`` with ``due_at``, ``overdue`` and ``waiting_on`` as of now."""
        now = self.clock()
        state = self.store.snapshot()
        period = self.calendar.period_at(now)
        statuses = statuses_of(state.records)
        for record in records:  # the records given win over a newer snapshot
            statuses[(record.app, record.domain)] = record.status
        shown = []
        for record in records:
            key = (record.app, record.domain)
            due = self.calendar.due_at(period, key)
            shown.append(
                CloseRecord(
                    record,
                    due_at=due,
                    overdue=due is not None and due <= now and record.status is not Status.OK,
                    waiting_on=self.calendar.waiting_on(key, statuses),
                )
            )
        return shown

    def show_one(self, record: DomainRecord) -> CloseRecord:
        """One record with its close fields."""
        return self.show([record])[0]

    # --- as the canvas shows it --------------------------------------------------------

    def canvas(self, state: BoardState | None = None) -> dict[RecordKey, DomainClose] | None:
        """What the canvas shows of the close, or None without a ``close:`` section."""
        if not self.configured:
            return None
        return self.board_domains(state if state is not None else self.store.snapshot())

    def board_domains(self, state: BoardState) -> dict[RecordKey, DomainClose]:
        """Every domain as of the durable markers in ``state`` (no clock unless unmarked).

        Before the close part has recorded a period (``epmpulse render``, tests), the
        period being closed now is used.
        """
        meta = state.meta
        period = meta.get(PERIOD_META)
        if not isinstance(period, str):
            period = self.calendar.period_at(self.clock())
        passed = marker_keys(meta, PASSED_META, period)
        domains = self.domains(state, self.clock(), period, passed)
        holds = meta.get(HOLDS_META)
        if isinstance(holds, Mapping) and holds.get("period") == period:
            held = holds.get("held")
            if isinstance(held, Mapping) and held:
                domains = [d._replace(held=d.name in held) for d in domains]
        return {(d.app, d.domain): d for d in domains}


def marker_keys(meta: Mapping[str, Any], name: str, period: str) -> list[str]:
    """The names kept in marker ``name`` for ``period`` (none for another period)."""
    value = meta.get(name)
    if isinstance(value, Mapping) and value.get("period") == period:
        return [str(k) for k in value.get("keys") or []]
    return []
