"""The EPM poller: one cycle polls every tracked job in parallel and resolves domains.

A cycle (:meth:`Poller.run_cycle`, run by an APScheduler interval job that never
overlaps itself) does four small steps:

1. read the tracked jobs ``{server, job_id}`` of every domain from the board;
2. poll each unfinished job once, in parallel on a bounded thread pool;
3. in one store transaction against the latest state: resolve each domain whose
   jobs have all finished to the most severe result (jobs cleared, history by
   ``epm:<server>``), note "EPM … unreachable since …" on domains whose jobs
   keep failing (status unchanged), and turn stale Loading domains to Warning;
4. log one summary line.

The store mutation of step 3 is pure: it reads what the poller remembers but changes
only the working state, because the store may roll it back or run it on another
thread (group commit). What it used up (finished jobs now resolved) is forgotten only
after the commit is durable.

Transient failures (network, 429, 5xx) never change a status. A job EPM does not
know (404) has failed and resolves as Error; other permanent failures (refused
credentials, an unusable answer) are reported like an outage. An unexpected exception
while polling one job (a bug) is logged with its traceback and counts as a permanent
failure of that job only.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.epm.client import EpmClient
from bot.epm.mapping import JobResult, trim
from bot.epm.tracking import tracking_message
from bot.errors import EpmError
from bot.metrics import Metrics
from bot.model import DomainRecord, JobRef, RecordKey, Status, format_time, most_severe, utcnow
from bot.service import Change, StatusService
from bot.store import WorkingState

logger = logging.getLogger(__name__)

UNREACHABLE_AFTER = 3  # consecutive failed polls before a domain's message says so
_UNREACHABLE = re.compile(r"^EPM \S+ unreachable since ")
Outcome = JobResult | EpmError


@dataclass
class _Failure:
    count: int
    since: datetime
    error: EpmError


@dataclass(frozen=True)
class CycleSummary:
    """What one poll cycle did."""

    jobs: int
    finished: int
    running: int
    failed: int
    resolved: int
    stale: int
    seconds: float
    at: datetime


class Poller:
    """Polls tracked EPM jobs and resolves the domains that wait for them."""

    def __init__(
        self,
        service: StatusService,
        clients: Mapping[str, EpmClient],
        *,
        max_workers: int = 8,
        max_loading_minutes: float = 120,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.service = service
        self.clients = dict(clients)
        self.max_loading = timedelta(minutes=max_loading_minutes)
        self._metrics = metrics
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="epm-poll")
        self._cycle = threading.Lock()
        self._finished: dict[JobRef, JobResult] = {}
        self._failures: dict[JobRef, _Failure] = {}
        self.last: CycleSummary | None = None

    def close(self) -> None:
        """End the pool without waiting: queued polls are cancelled, running ones time out.

        The clients belong to the caller, which closes their sessions afterwards.
        """
        self._executor.shutdown(wait=False, cancel_futures=True)

    def run_cycle(self) -> CycleSummary | None:
        """Poll every tracked job once and apply the results; None if a cycle is running."""
        if not self._cycle.acquire(blocking=False):
            logger.warning("EPM poll skipped: the previous cycle is still running")
            return None
        try:
            return self._run()
        finally:
            self._cycle.release()

    def failing(self) -> dict[str, str]:
        """Servers whose jobs failed at least UNREACHABLE_AFTER times running, with why."""
        failing: dict[str, str] = {}
        for ref, failure in list(self._failures.items()):
            if failure.count >= UNREACHABLE_AFTER:
                since = format_time(failure.since)
                failing.setdefault(ref.server, f"since {since}: {_reason(failure.error)}")
        return failing

    # --- the steps of a cycle ---------------------------------------------------------

    def _run(self) -> CycleSummary:
        started = time.monotonic()
        tracked = self._tracked()
        refs = {ref for jobs in tracked.values() for ref in jobs}
        self._forget_untracked(refs)
        outcomes = self._poll_all([r for r in refs if r not in self._finished])
        self._remember(outcomes)
        changes: list[Change] = []
        if tracked or self._any_loading():
            changes, resolved = self.service.transact(self._apply)
            for ref in resolved:  # durable now: these results are used up
                self._finished.pop(ref, None)
        summary = self._summarise(outcomes, changes, time.monotonic() - started)
        self.last = summary
        return summary

    def _tracked(self) -> dict[RecordKey, tuple[JobRef, ...]]:
        board = self.service.board()
        return {(r.app, r.domain): r.jobs for rs in board.values() for r in rs if r.jobs}

    def _any_loading(self) -> bool:
        board = self.service.board()
        return any(r.status is Status.LOADING for rs in board.values() for r in rs)

    def _forget_untracked(self, refs: set[JobRef]) -> None:
        for cache in (self._finished, self._failures):
            for ref in [r for r in cache if r not in refs]:
                del cache[ref]

    def _poll_all(self, refs: list[JobRef]) -> dict[JobRef, Outcome]:
        down: dict[str, EpmError] = {}  # servers that failed transiently in this cycle
        lock = threading.Lock()

        def poll(ref: JobRef) -> Outcome:
            with lock:
                skipped = down.get(ref.server)
            if skipped is not None:
                return skipped  # spare a server that is already failing this cycle
            outcome = self._poll_one(ref)
            if isinstance(outcome, EpmError) and not outcome.permanent:
                with lock:
                    down.setdefault(ref.server, outcome)
            return outcome

        futures: dict[JobRef, Future[Outcome]] = {}
        for ref in refs:
            try:
                futures[ref] = self._executor.submit(poll, ref)
            except RuntimeError:  # the pool was shut down: the part is stopping
                break
        # Not wait(): a poll that close() cancels never wakes it (the pool no longer
        # notifies waiters); result() does wake, raising CancelledError.
        outcomes: dict[JobRef, Outcome] = {}
        for ref, future in futures.items():
            try:
                outcomes[ref] = future.result()
            except CancelledError:  # cancelled by close(): not polled in this cycle
                continue
        return outcomes

    def _poll_one(self, ref: JobRef) -> Outcome:
        client = self.clients.get(ref.server)
        if client is None:
            return EpmError(f"EPM server '{ref.server}' is not configured", permanent=True)
        try:
            return client.job_status(ref.job_id)
        except EpmError as exc:
            if exc.permanent and exc.status_code == 404:
                return JobResult(Status.ERROR, trim(str(exc)), None)
            return exc
        except Exception as exc:  # a bug polling one job must not stop the others
            logger.exception("EPM %s: polling job %s failed unexpectedly", ref.server, ref.job_id)
            return EpmError(
                f"EPM {ref.server}: job {ref.job_id} could not be polled ({type(exc).__name__})",
                permanent=True,
            )

    def _remember(self, outcomes: Mapping[JobRef, Outcome]) -> None:
        now = self._clock()
        for ref, outcome in outcomes.items():
            if isinstance(outcome, EpmError):
                failure = self._failures.get(ref)
                if failure is None:
                    self._failures[ref] = _Failure(1, now, outcome)
                else:
                    failure.count += 1
                    failure.error = outcome
                continue
            self._failures.pop(ref, None)
            if outcome.finished:
                self._finished[ref] = outcome

    def _apply(
        self, work: WorkingState, now: datetime
    ) -> tuple[tuple[list[Change], list[JobRef]], list[Change]]:
        """The cycle's mutation: changes only ``work``; returns the changes and used-up jobs."""
        changes: list[Change] = []
        resolved: list[JobRef] = []
        for key in self.service.layout.domain_keys():
            record = self.service.current(work, key)
            if record.jobs:
                change, used = self._resolve(work, record, now)
                resolved.extend(used)
            else:
                change = self._stale(work, record, now)
            if change is not None:
                changes.append(change)
        return (changes, resolved), changes

    def _resolve(
        self, work: WorkingState, record: DomainRecord, now: datetime
    ) -> tuple[Change | None, list[JobRef]]:
        key = (record.app, record.domain)
        results = [(ref, self._finished.get(ref)) for ref in record.jobs]
        done = [(ref, result) for ref, result in results if result is not None]
        if len(done) == len(results):
            status = most_severe([result.status for _, result in done if result.status])
            ref, worst = next((r, res) for r, res in done if res.status is status)
            message = worst.message
            if len(done) > 1:
                message = f"{ref.server} job {ref.job_id}: {message}"
            change = self.service.record_change(
                work, key, status, trim(message), f"epm:{ref.server}", now, jobs=[]
            )
            return change, [finished_ref for finished_ref, _ in done]
        failing = [(ref, self._failures[ref]) for ref in record.jobs if ref in self._failures]
        failing = [(ref, f) for ref, f in failing if f.count >= UNREACHABLE_AFTER]
        if failing:
            ref, failure = min(failing, key=lambda item: item[1].since)
            message = trim(
                f"EPM {ref.server} unreachable since {format_time(failure.since)}: "
                f"{_reason(failure.error)}"
            )
        elif _UNREACHABLE.match(record.message):
            ref, message = record.jobs[0], tracking_message(record.jobs)
        else:
            return None, []
        if message == record.message:
            return None, []
        change = self.service.record_change(
            work, key, record.status, message, f"epm:{ref.server}", now, jobs=record.jobs
        )
        return change, []

    def _stale(self, work: WorkingState, record: DomainRecord, now: datetime) -> Change | None:
        if record.status is not Status.LOADING or record.since is None:
            return None
        if record.pending_approval is not None:  # its job ended OK; it waits for sign-off
            return None
        if now - record.since <= self.max_loading:
            return None
        minutes = int(self.max_loading.total_seconds() // 60)
        message = (
            f"stale: Loading since {format_time(record.since)}, over {minutes} min "
            "with no EPM job in progress"
        )
        key = (record.app, record.domain)
        return self.service.record_change(work, key, Status.WARNING, message, "system", now)

    def _summarise(
        self, outcomes: Mapping[JobRef, Outcome], changes: Iterable[Change], seconds: float
    ) -> CycleSummary:
        changes = list(changes)
        failed = {r: o for r, o in outcomes.items() if isinstance(o, EpmError)}
        finished = sum(1 for o in outcomes.values() if isinstance(o, JobResult) and o.finished)
        resolved = sum(1 for c in changes if c.old.jobs and not c.new.jobs)
        stale = sum(1 for c in changes if c.new.updated_by == "system")
        summary = CycleSummary(
            jobs=len(outcomes),
            finished=finished,
            running=len(outcomes) - finished - len(failed),
            failed=len(failed),
            resolved=resolved,
            stale=stale,
            seconds=seconds,
            at=self._clock(),
        )
        for server in sorted({r.server for r in failed}):
            errors = [o for r, o in failed.items() if r.server == server]
            logger.warning(
                "EPM %s: %d job poll(s) failed (%s): %s",
                server,
                len(errors),
                "permanent" if errors[0].permanent else "transient",
                errors[0],
            )
        if self._metrics is not None:
            for change in changes:
                self._metrics.count_update(change.new.updated_by, "ok")
        level = logging.INFO if outcomes or changes else logging.DEBUG
        logger.log(
            level,
            "EPM poll: %d job(s) in %.2fs: %d finished, %d running, %d failed; "
            "%d domain(s) resolved, %d stale",
            summary.jobs,
            seconds,
            summary.finished,
            summary.running,
            summary.failed,
            summary.resolved,
            summary.stale,
        )
        return summary


def _reason(error: EpmError) -> str:
    """The error without its leading "EPM <server>" part."""
    text = str(error)
    return text.split(": ", 1)[-1] if text.startswith("EPM ") else text
