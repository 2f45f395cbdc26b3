"""The one-process runtime of ``epmpulse run``: store, service, scheduler and parts.

A *part* is one boundary of the running process (Slack socket mode, the canvas
publisher, the REST API, the EPM poller). Parts are started in the order they were
added and stopped in reverse; each reports its own health.

Leader-only parts are started on a thread of their own each time leadership is won,
after a new epoch was claimed (:mod:`bot.lease`), so a slow start never holds up the
heartbeat; when leadership is lost they are halted at once, and a part still starting
then is halted as soon as its start returns.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC
from types import FrameType

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler

from bot.config import Config
from bot.errors import StoreError
from bot.leader import Leadership, Role, build_leadership
from bot.lease import Lease, claim_epoch
from bot.metrics import Metrics
from bot.parts import Check, Part
from bot.service import StatusService
from bot.store import Store
from bot.store.factory import open_store

logger = logging.getLogger(__name__)

BACKUP_KEEP = 24
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Runtime:
    """Everything one EPMPulse process runs."""

    def __init__(
        self, config: Config, *, store: Store | None = None, leadership: Leadership | None = None
    ) -> None:
        self.config = config
        self.metrics = Metrics()
        self.store = store if store is not None else open_store(config.settings)
        self.leadership = leadership if leadership is not None else build_leadership(config)
        self._leader_parts: list[LeaderOnly] = []
        self._closers: list[Callable[[], None]] = []
        self._roles = threading.Lock()  # guards the term below
        self._term = 0  # grows with every gain and loss of leadership
        self._leading = False
        self._ready = threading.Event()  # every part is started (leader-only ones armed)
        self._activation: threading.Thread | None = None
        self._activation_error: BaseException | None = None
        self._starting = True  # start() is under way and reports a failed activation
        self.service = StatusService(config.estate.layout, self.store, metrics=self.metrics)
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

    def add_closer(self, close: Callable[[], None]) -> None:
        """Release a resource several parts share, once every part has stopped."""
        self._closers.append(close)

    def add_leader_only(self, name: str, factory: Callable[[], Part]) -> None:
        """Run the part ``factory`` builds only while this instance is the leader.

        This is where every piece of scheduled work registers (canvas publishing, EPM
        polling, alert delivery, close-calendar transitions): with several instances on
        one database exactly one runs it. Each time leadership is won a fresh part is
        built and started; when it is lost the part is halted at once (its ``halt()``
        if it has one, else ``stop()``). With the JSON store this instance always leads.
        """
        part = LeaderOnly(name, factory, self)
        self._leader_parts.append(part)
        self.add(part)

    def leader_part(self, name: str) -> Part | None:
        """The running leader-only part called ``name`` (None while not leading)."""
        return next((p.current for p in self._leader_parts if p.name == name), None)

    @property
    def leading(self) -> bool:
        """Whether this instance runs the leader-only parts right now."""
        return self._leading

    @property
    def lease(self) -> Lease:
        """The lease every side effect of a leader-only part is checked against."""
        return self.leadership.lease

    def role(self) -> Role:
        """Whether this instance leads, and its ``host:pid`` (for /health)."""
        return Role(self._leading, self.leadership.instance)

    def start(self) -> None:
        """Back the state up, then start the scheduler, leadership and every part, in order."""
        self.store.backup(keep=BACKUP_KEEP)
        self.scheduler.start()
        started: list[Part] = []
        try:
            self.leadership.start(self._lead, self._follow)
            for part in self.parts:
                part.start()
                started.append(part)
                logger.info("%s started", part.name)
            self._ready.set()
            # Leading from the start: the leader-only parts run when start returns, and
            # one that cannot start (a canvas that does not exist) stops start-up.
            activation = self._activation
            if activation is not None:
                activation.join()
            if self._activation_error is not None:
                raise self._activation_error
            self._starting = False
        except BaseException:
            self._follow()  # first: a waiting activation then finds its term over
            self._ready.set()
            for part in reversed(started):
                part.stop()
            self.leadership.stop()
            self.scheduler.shutdown(wait=False)
            raise

    def _lead(self) -> None:
        """Leadership won (on the heartbeat): start the leader-only parts on their own thread."""
        with self._roles:
            self._term += 1
            self._leading = True
            self._activation_error = None
            term = self._term
        self.metrics.leader.set(1)
        previous = self._activation
        self._activation = threading.Thread(
            target=self._activate, args=(term, previous), name="leader-parts", daemon=True
        )
        self._activation.start()

    def _activate(self, term: int, previous: threading.Thread | None) -> None:
        self._ready.wait()
        if previous is not None:
            # The parts of an earlier term may still be starting (a slow Slack): they are
            # halted as soon as their start returns, and only then do this term's start.
            previous.join()
        if not self._in_term(term):  # start-up failed, or leadership already moved on
            return
        try:
            epoch = claim_epoch(self.store)
            if not self._in_term(term):
                return
            self.lease.epoch = epoch
            logger.info("leading with epoch %d", epoch)
            for part in self._leader_parts:
                if not part.activate(lambda: self._in_term(term)):
                    return
        except Exception as exc:  # the parts could not start: let another instance try
            if not self._in_term(term):  # leadership already moved on: nothing to give up
                logger.info("leader parts of an ended term stopped starting: %s", exc)
                return
            if self._starting:  # start() re-raises it: a clear message, then exit
                self._activation_error = exc
            else:
                logger.exception("leader parts failed to start; giving leadership up")
            self.leadership.step_down(f"the leader parts failed to start: {exc}")

    def _in_term(self, term: int) -> bool:
        with self._roles:
            return self._term == term and self._leading

    def _follow(self) -> None:
        """Leadership lost (on the heartbeat): halt every leader-only part at once."""
        with self._roles:
            self._term += 1
            self._leading = False
        self.metrics.leader.set(0)
        for part in reversed(self._leader_parts):
            part.deactivate()

    def stop(self) -> None:
        """Stop every part (reverse order), then the scheduler; back up and close the store."""
        for part in reversed(self.parts):
            try:
                part.stop()
            except Exception:  # keep stopping the others
                logger.exception("%s did not stop cleanly", part.name)
        # Only now: another instance taking over must not overlap our last publish.
        self.leadership.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        for close in self._closers:
            try:
                close()
            except Exception:  # keep releasing the others
                logger.exception("a shared resource did not close cleanly")
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


class LeaderOnly:
    """A part that runs only while this instance leads (see :meth:`Runtime.add_leader_only`)."""

    def __init__(self, name: str, factory: Callable[[], Part], runtime: Runtime) -> None:
        self.name = name
        self._factory = factory
        self._runtime = runtime
        self._armed = False
        self._lock = threading.Lock()
        self.current: Part | None = None

    def start(self) -> None:
        """Take part from now on (the runtime starts it whenever this instance leads)."""
        self._armed = True

    def activate(self, still_leading: Callable[[], bool]) -> bool:
        """Build and start the part (leadership won); raises when it cannot start.

        The start runs outside the lock, so a loss of leadership meanwhile is not held
        up; a part whose term ended while it started is halted at once. Returns whether
        this instance still leads.
        """
        with self._lock:
            if not self._armed or self.current is not None:
                return still_leading()
        part = self._factory()
        part.start()
        with self._lock:
            if still_leading() and self._armed:
                self.current = part
                return True
        _halt(part)
        logger.info("%s halted as soon as it started: this instance no longer leads", self.name)
        return False

    def deactivate(self) -> None:
        """Halt the part at once (leadership lost): no final flush, no waiting."""
        with self._lock:
            part, self.current = self.current, None
        if part is not None:
            _halt(part)
            logger.info("%s halted: this instance no longer leads", self.name)

    def stop(self) -> None:
        """Stop the part cleanly (shutdown while leading, pending work finished)."""
        self._armed = False
        with self._lock:
            part, self.current = self.current, None
        if part is not None:
            part.stop()

    def health(self) -> Check:
        """The part's own health while leading; healthy on standby."""
        part = self.current
        if part is not None:
            return part.health()
        if self._armed:
            instance = self._runtime.role().instance
            return Check(True, f"standby on {instance}: another instance leads")
        return Check(False, "not started")


def _halt(part: Part) -> None:
    halt = getattr(part, "halt", None)
    (halt if callable(halt) else part.stop)()
