"""The one-process runtime of ``epmpulse run``: store, service, scheduler and parts.

A *part* is one boundary of the running process (Slack socket mode, the canvas
publisher, the REST API, the EPM poller). Parts are started in the order they were
added and stopped in reverse; each reports its own health.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from datetime import UTC
from types import FrameType
from typing import Protocol

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler

from bot.config import Config
from bot.errors import StoreError
from bot.metrics import Metrics
from bot.service import StatusService
from bot.store import JsonStore, Store

logger = logging.getLogger(__name__)

BACKUP_KEEP = 24
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class Check:
    """The result of one health check."""

    ok: bool
    detail: str


class Part(Protocol):
    """One boundary of the running process."""

    name: str

    def start(self) -> None:
        """Start serving; raise to abort start-up with a clear message."""

    def stop(self) -> None:
        """Stop serving, finishing pending work within a bounded time."""

    def health(self) -> Check:
        """Report whether this part works right now."""


class Runtime:
    """Everything one EPMPulse process runs."""

    def __init__(self, config: Config, *, store: Store | None = None) -> None:
        self.config = config
        self.metrics = Metrics()
        self.store = store if store is not None else JsonStore(config.settings.data_dir)
        self.service = StatusService(config.estate, self.store, metrics=self.metrics)
        self.metrics.watch_board(self.service.board)
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )
        self.scheduler.add_listener(self._job_failed, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        self.scheduler.add_job(
            self.store.backup, "interval", hours=1, id="backups", kwargs={"keep": BACKUP_KEEP}
        )
        self.parts: list[Part] = []
        self._stopping = threading.Event()

    def add(self, part: Part) -> None:
        """Run ``part`` as part of this process."""
        self.parts.append(part)

    def start(self) -> None:
        """Back the state up, then start the scheduler and every part, in order."""
        self.store.backup(keep=BACKUP_KEEP)
        self.scheduler.start()
        started: list[Part] = []
        try:
            for part in self.parts:
                part.start()
                started.append(part)
                logger.info("%s started", part.name)
        except BaseException:
            for part in reversed(started):
                part.stop()
            self.scheduler.shutdown(wait=False)
            raise

    def stop(self) -> None:
        """Stop every part (reverse order), then the scheduler; back up and close the store."""
        for part in reversed(self.parts):
            try:
                part.stop()
            except Exception:  # keep stopping the others
                logger.exception("%s did not stop cleanly", part.name)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.store.backup(keep=BACKUP_KEEP)
        self.store.close()
        logger.info("stopped")

    def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then stop cleanly; a second signal kills at once."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        self._stopping.wait()
        self.stop()

    def request_stop(self, signum: int = 0) -> None:
        """Ask :meth:`serve_forever` to stop."""
        if signum:
            logger.info("received signal %d; shutting down (again to exit at once)", signum)
        self._stopping.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # A clean stop is bounded but can take seconds; an impatient second Ctrl-C or
        # SIGTERM gets the default action and ends the process at once.
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        self.request_stop(signum)

    def health(self) -> dict[str, Check]:
        """Every check: store readable, scheduler alive, and each part's own."""
        checks: dict[str, Check] = {}
        try:
            version = self.store.snapshot().version
            checks["store"] = Check(True, f"board version {version}")
        except (StoreError, OSError) as exc:
            checks["store"] = Check(False, str(exc))
        if checks["store"].ok and (failure := self.service.write_health.failure):
            checks["store"] = Check(False, failure)  # readable is not enough: writes fail
        running = self.scheduler.running
        checks["scheduler"] = Check(running, "running" if running else "not running")
        for part in self.parts:
            checks[part.name] = part.health()
        return checks

    def _job_failed(self, event: JobExecutionEvent) -> None:
        if event.exception is not None:
            logger.error(
                "scheduled job %s failed: %r\n%s", event.job_id, event.exception, event.traceback
            )
        else:
            logger.warning("scheduled job %s missed its run time", event.job_id)
