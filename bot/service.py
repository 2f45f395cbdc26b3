"""The status service: the one place statuses are read and changed.

Slack listeners, the REST API, the CLI and the EPM poller all call this module; it
knows nothing about any of them. Every change is validated first (unknown names and
over-long messages raise :class:`~bot.errors.ValidationError` and change nothing),
then committed to the store; listeners (alerts, canvas, metrics) are told only
after the change is durable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from bot import signoff
from bot.close.rules import SignOffRules
from bot.errors import MessageTooLongError, StoreError, ValidationError
from bot.layout import Layout
from bot.model import (  # Change lives in bot.model; importers find it here too
    MESSAGE_LIMIT,
    Change,
    DomainRecord,
    HistoryEntry,
    JobRef,
    RecordKey,
    Status,
    Update,
    utcnow,
)
from bot.store import Store, WorkingState
from bot.store.health import WriteHealth

if TYPE_CHECKING:  # prometheus_client loads only where metrics are kept (run)
    from bot.metrics import Metrics

if TYPE_CHECKING:
    from bot.close.live import CloseTracker

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Job starts under way (bot.epm.launch), ``{"APP/DOMAIN": {"by", "at"[, "server", "job"]}}``.
# A start whose job id EPM answered is held until a change tracks that job (SPEC §15).
JOB_STARTS_META = "jobs.starting"


Listener = Callable[[list[Change]], None]


class _Prepared(NamedTuple):
    key: RecordKey
    status: Status
    message: str
    jobs: list[JobRef]


class StatusService:
    """Reads and changes domain statuses through a :class:`~bot.store.Store`.

    It needs only the board's :class:`~bot.layout.Layout`; the parts that start or list
    EPM jobs are handed the job specs (:class:`~bot.estate.Estate`) themselves.
    """

    def __init__(
        self,
        layout: Layout,
        store: Store,
        *,
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        self.layout = layout
        self.store = store
        self._clock = clock
        self._metrics = metrics
        self._listeners: list[Listener] = []
        self.write_health = WriteHealth()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` with the changes of every durable commit."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener`` (no error when it was not added)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    # --- reading -------------------------------------------------------------------

    def get(self, app: str, domain: str) -> DomainRecord:
        """Return one domain's record (names are matched case-insensitively)."""
        key = self.layout.resolve_domain(app, domain)
        return _record(key, self.store.snapshot().records.get(key))

    def board(self) -> dict[str, list[DomainRecord]]:
        """Every configured app with its domains' records, in configuration order."""
        records = self.store.snapshot().records
        board: dict[str, list[DomainRecord]] = {}
        for key in self.layout.domain_keys():
            board.setdefault(key[0], []).append(_record(key, records.get(key)))
        return board

    def app_board(self, app: str) -> list[DomainRecord]:
        """One app's records, in configuration order."""
        canonical = self.layout.resolve_app(app)
        return self.board()[canonical]

    def history(self, app: str, domain: str, limit: int = 10) -> list[HistoryEntry]:
        """The last ``limit`` changes of one domain, newest first."""
        if limit < 1:
            raise ValidationError(f"The number of changes must be at least 1, not {limit}.")
        canonical_app, canonical_domain = self.layout.resolve_domain(app, domain)
        entries = self.store.history(canonical_app, canonical_domain, limit)
        return [HistoryEntry.from_json(e) for e in reversed(entries)]

    def meta(self, name: str, default: Any = None) -> Any:
        """Read one bookkeeping value kept with the board (canvas id, subscriptions, …)."""
        return self.store.snapshot().meta.get(name, default)

    @property
    def version(self) -> int:
        """The board's version; it grows with every commit."""
        return self.store.snapshot().version

    def now(self) -> datetime:
        """The service's clock (injected in tests)."""
        return self._clock()

    @cached_property
    def close(self) -> CloseTracker:
        """The close calendar read against this board (SPEC §11)."""
        from bot.close.live import CloseTracker  # the close model loads only when asked

        return CloseTracker(self.layout, self.store, self._clock)

    # --- writing -------------------------------------------------------------------

    def set(
        self,
        app: str,
        domain: str,
        status: Status | str,
        message: str = "",
        *,
        by: str,
        jobs: Sequence[JobRef] = (),
    ) -> Change:
        """Set one domain's status; returns once the change is durable.

        Tracked jobs are replaced by ``jobs`` (so a manual set clears them).
        """
        update = Update(app=app, domain=domain, status=status, message=message, jobs=list(jobs))
        return self.set_many([update], by=by)[0]

    def set_many(self, updates: Sequence[Update], *, by: str) -> list[Change]:
        """Apply several updates all-or-nothing, in one durable write."""
        try:
            prepared = self._prepare_all(updates)
        except ValidationError:
            self._count(by, "invalid", len(updates) or 1)
            raise
        now = self._clock()

        sign_off = self.sign_off

        def apply(work: WorkingState) -> list[Change]:
            return [_apply(work, item, by, now, sign_off) for item in prepared]

        try:
            changes = self._commit(apply)
        except StoreError:
            self._count(by, "error", len(prepared))
            raise
        self._count(by, "ok", len(changes))
        self._notify(changes)
        return changes

    def set_meta(self, name: str, value: Any) -> None:
        """Durably store one bookkeeping value (a JSON value)."""
        self._commit(lambda work: work.put_meta(name, value))

    def transact(self, mutation: Callable[[WorkingState, datetime], tuple[T, list[Change]]]) -> T:
        """Run a custom mutation (e.g. the poller's job resolution) in one commit.

        ``mutation`` gets the working state and the current time and returns its
        result plus the changes to announce to listeners.
        """
        now = self._clock()
        result, changes = self._commit(lambda work: mutation(work, now))
        if changes:
            self._notify(changes)
        return result

    def record_change(
        self,
        work: WorkingState,
        key: RecordKey,
        status: Status,
        message: str,
        by: str,
        now: datetime,
        jobs: Sequence[JobRef] = (),
    ) -> Change:
        """Apply one validated change inside a :meth:`transact` mutation.

        A change to OK on a sign-off domain becomes a request for approval (SPEC §18).
        """
        item = _Prepared(key, status, message[:MESSAGE_LIMIT], list(jobs))
        return _apply(work, item, by, now, self.sign_off)

    @property
    def sign_off(self) -> SignOffRules | None:
        """The four-eyes rules (``close.sign_off``), or None when no domain needs approval."""
        close = self.layout.close
        return None if close is None else close.sign_off

    def current(self, work: WorkingState, key: RecordKey) -> DomainRecord:
        """The record at ``key`` inside a :meth:`transact` mutation."""
        return _record(key, work.records.get(key))

    # --- internals -----------------------------------------------------------------

    def _commit(self, mutation: Callable[[WorkingState], T]) -> T:
        """Commit through the store, recording whether writes work (for health)."""
        try:
            result = self.store.commit(mutation)
        except StoreError as exc:
            self.write_health.failed(exc, self._clock())
            raise
        self.write_health.succeeded()
        return result

    def _prepare_all(self, updates: Sequence[Update]) -> list[_Prepared]:
        if not updates:
            raise ValidationError("No updates given.")
        prepared = [self._prepare(u) for u in updates]
        seen: set[RecordKey] = set()
        for item in prepared:
            if item.key in seen:
                raise ValidationError(f"{item.key[0]} {item.key[1]} appears twice in one batch.")
            seen.add(item.key)
        return prepared

    def _count(self, by: str, result: str, n: int) -> None:
        if self._metrics is not None:
            self._metrics.count_update(by, result, n)

    def _prepare(self, update: Update) -> _Prepared:
        key = self.layout.resolve_domain(update.app, update.domain)
        status = update.status if isinstance(update.status, Status) else Status.parse(update.status)
        message = update.message.strip()
        if len(message) > MESSAGE_LIMIT:
            raise MessageTooLongError(len(message), MESSAGE_LIMIT)
        if "\x00" in message:  # no store should keep it (PostgreSQL's jsonb cannot)
            raise ValidationError("A message cannot contain NUL characters.")
        jobs = [
            JobRef(server=self.layout.resolve_server(j.server), job_id=j.job_id)
            for j in update.jobs or []
        ]
        return _Prepared(key, status, message, jobs)

    def _notify(self, changes: list[Change]) -> None:
        for listener in self._listeners:
            try:
                listener(changes)
            except Exception:  # a listener must never undo a durable change
                logger.exception("change listener %r failed; the change itself is saved", listener)


def _record(key: RecordKey, data: dict[str, Any] | None) -> DomainRecord:
    if data is None:
        return DomainRecord(app=key[0], domain=key[1])
    return DomainRecord.from_json(data)


def _apply(
    work: WorkingState,
    item: _Prepared,
    by: str,
    now: datetime,
    sign_off: SignOffRules | None = None,
) -> Change:
    old = _record(item.key, work.records.get(item.key))
    if sign_off is not None and item.status is Status.OK and sign_off.applies(*item.key):
        change = signoff.request(work, old, item.message, item.jobs, by, now)
        if item.jobs:
            _end_job_start(work, item.key, item.jobs)
        return change
    if old.pending_approval is not None:  # any other change cancels the request
        signoff.cancel(work, old, by, now)
    since = old.since if (old.status is item.status and old.since) else now
    new = DomainRecord(
        app=item.key[0],
        domain=item.key[1],
        status=item.status,
        message=item.message,
        updated_at=now,
        updated_by=by,
        jobs=tuple(item.jobs),
        since=since,
    )
    change = Change(old, new)
    work.put_record(item.key, new.to_json())
    work.add_history(change.history_entry().to_json())
    if item.jobs:
        _end_job_start(work, item.key, item.jobs)
    return change


def _end_job_start(work: WorkingState, key: RecordKey, jobs: Sequence[JobRef]) -> None:
    """Drop the start reservation of ``key`` whose started job ``jobs`` now tracks.

    ``/epmpulse track``, a REST status with jobs and the launcher's own commit all end it
    here; a reservation whose job id is unknown is left to expire.
    """
    starting = work.meta.get(JOB_STARTS_META)
    if not isinstance(starting, dict):
        return
    name = f"{key[0]}/{key[1]}"
    held = starting.get(name)
    if not isinstance(held, dict) or "job" not in held:
        return
    if JobRef(server=str(held.get("server")), job_id=str(held["job"])) in jobs:
        work.put_meta(JOB_STARTS_META, {n: v for n, v in starting.items() if n != name})
