"""The scheduler jobs of the parts: repeating, never overlapping, removable at any time.

:class:`RepeatingPart` is a leader-only part that is one such job; an :class:`Alarm` is
one ``date`` job that a part re-arms for the next moment anything can happen.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler

from bot.parts import Check

logger = logging.getLogger(__name__)


def every(
    scheduler: BaseScheduler,
    seconds: float,
    func: Callable[[], Any],
    job_id: str,
    *,
    first_now: bool = True,
) -> None:
    """Run ``func`` every ``seconds`` (first at once unless ``first_now`` is False).

    One run at a time, missed runs collapse into one, and adding it again replaces it.
    """
    # APScheduler reads next_run_time=None as "paused": leave it out for the default.
    first = {"next_run_time": datetime.now(UTC)} if first_now else {}
    scheduler.add_job(
        func,
        "interval",
        seconds=seconds,
        id=job_id,
        max_instances=1,
        coalesce=True,
        replace_existing=True,
        **first,
    )


def cancel(scheduler: BaseScheduler, *job_ids: str) -> None:
    """Remove these jobs; one never added, or already removed, is no error."""
    for job_id in job_ids:
        with contextlib.suppress(JobLookupError):
            scheduler.remove_job(job_id)


class Worker(Protocol):
    """What a :class:`RepeatingPart` runs: one run at a time, and a halt for good."""

    def run_once(self) -> object:
        """Do what is due now."""

    def halt(self) -> None:
        """Do nothing more (leadership lost); a run under way stops early."""


W = TypeVar("W", bound=Worker)


class RepeatingPart(Generic[W]):
    """A leader-only part that is one repeating job: ``worker.run_once`` every ``tick`` s."""

    name: str
    job_id: str

    def __init__(self, worker: W, scheduler: BaseScheduler, *, tick: float = 1.0) -> None:
        self.worker = worker
        self._scheduler = scheduler
        self._tick = tick
        self.started = False

    def start(self) -> None:
        """Run every ``tick`` seconds, first now."""
        every(self._scheduler, self._tick, self.worker.run_once, self.job_id)
        self.started = True

    def stop(self) -> None:
        """Stop running; what is not done yet is done by the next leader."""
        cancel(self._scheduler, self.job_id)
        self.started = False

    def halt(self) -> None:
        """Stop at once (leadership lost): nothing more is done, not even a last record."""
        self.worker.halt()
        RepeatingPart.stop(self)


class Alarm:
    """One ``date`` job that runs ``func`` at a moment, re-armed by whoever it wakes.

    The moment is read on ``clock`` (injected in tests) and armed as the time left on the
    scheduler's real time. Once disarmed, a run still under way cannot arm it again.
    """

    def __init__(
        self,
        scheduler: BaseScheduler,
        job_id: str,
        func: Callable[[], Any],
        clock: Callable[[], datetime],
    ) -> None:
        self._scheduler = scheduler
        self._job_id = job_id
        self._func = func
        self._clock = clock
        self._lock = threading.Lock()  # arming vs. disarming
        self._on = False
        self.next_wake: datetime | None = None

    def enable(self) -> None:
        """Let :meth:`arm` arm the job (until :meth:`disarm`)."""
        with self._lock:
            self._on = True

    def arm(self, when: datetime) -> None:
        """Run ``func`` at ``when`` (at once when it has passed), replacing any earlier moment."""
        with self._lock:  # a disarm between the check and add_job would be undone
            if not self._on:
                return
            self.next_wake = when
            left = max(timedelta(0), when - self._clock())
            self._scheduler.add_job(
                self._func,
                "date",
                run_date=datetime.now(UTC) + left,
                id=self._job_id,
                replace_existing=True,
                misfire_grace_time=None,  # a wake-up late after a suspend still runs
            )
        logger.debug("%s: next wake-up at %s", self._job_id, when.isoformat())

    def health(self, error: str | None, idle: str, done: str = "") -> Check:
        """Failing with ``error`` when there is one, else naming the next wake-up (or ``idle``)."""
        if error:
            return Check(False, error)
        when = self.next_wake.isoformat() if self.next_wake else idle
        return Check(True, f"{done}next wake-up {when}")

    def disarm(self) -> None:
        """Remove the job; nothing arms it again until :meth:`enable`."""
        with self._lock:
            self._on = False
            cancel(self._scheduler, self._job_id)
