"""The close conductor as a leader-only part (SPEC §17): announce, wait, start once.

Each run (:meth:`Conductor.tick`) reads the board once (:func:`bot.close.conductor.plans`)
and, for every domain whose job has ``auto_start: true``:

1. **announces** a start that became due to happen (every upstream domain OK in this
   close): "Starting <job> for APP/DOMAIN in N min" with a *Hold* button, posted to
   ``SLACK_CHANNEL_ID`` once — claimed under the leader's epoch, posted through the
   leased client, recorded (as :mod:`bot.close.overdue` does for its alerts);
2. **starts** it once its time has come (the commit that made the last upstream OK plus
   ``close.start_delay_minutes``), it is announced and nobody holds it: the start is
   first claimed in a commit fenced by the epoch that re-checks everything (not held,
   not OK, not running, not started in this close), then the lease is checked and the
   job started through :class:`~bot.epm.launch.JobLauncher` by ``system``, and the
   outcome recorded. A claim is never followed by a second POST: a claim the next
   leader finds without an outcome is resolved from the board (the job is tracked: it
   started) or reported as in doubt, naming ``/epmpulse run``;
3. **reports** a job it started that ended in Error, or a start EPM refused, once: the
   job is not restarted automatically.

Runs are triggered by commits, not by a poll of the due time: every durable change made
in this process wakes the part at once (a service listener), and a cheap check of the
board's version (every ``watch_seconds``, as alert delivery reads the change log) wakes
it for commits of other instances and processes. One APScheduler ``date`` job is armed
for the next start that is due, so nothing runs between those moments. The clock is
injected; the scheduler runs on real time, so a wake-up is armed as the time left by
that clock. Tests call :meth:`tick` directly.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.base import BaseScheduler

from bot import schedule
from bot.close import conductor, crosscheck
from bot.close.conductor import CONDUCTOR_META, Plan, Stage
from bot.errors import JobRunningError, JobStartError, StoreError, ValidationError
from bot.lease import FencedError, Lease, LeaseLostError
from bot.model import Status, format_time, utcnow
from bot.parts import Check, Host
from bot.sending import Outcome, Post, Sender
from bot.service import Change, StatusService
from bot.slack.blocks import Message
from bot.slack.holds import announcement, disputed_notice, failed_notice
from bot.store import WorkingState

if TYPE_CHECKING:
    from bot.epm.launch import JobLauncher

logger = logging.getLogger(__name__)

JOB_ID = "conductor-wake"  # the next due start
RUN_JOB_ID = "conductor-run"  # a run right after a commit
WATCH_JOB_ID = "conductor-watch"
WATCH_SECONDS = 1.0
RETRY_SECONDS = 30.0
SAVE_CURSOR_EVERY = 100  # commits read without a dispute before the cursor is saved
SENT, DROPPED = "sent", "dropped"


class Conductor(Sender):
    """Starts auto-started jobs of the current close once (see the module docs)."""

    name = "conductor"
    what = "close conductor"

    def __init__(
        self,
        service: StatusService,
        launcher: JobLauncher,
        scheduler: BaseScheduler,
        *,
        post: Post | None,
        clock: Callable[[], datetime] = utcnow,
        lease: Lease | None = None,
        watch_seconds: float = WATCH_SECONDS,
    ) -> None:
        super().__init__(lease)
        self._service = service
        self._launcher = launcher
        self._scheduler = scheduler
        self._post = post
        self._clock = clock
        self._watch_seconds = watch_seconds
        self.calendar = service.close.calendar
        self._lock = threading.Lock()  # one tick at a time
        self._alarm = schedule.Alarm(scheduler, JOB_ID, self.wake, clock)  # the next due start
        self._soon = schedule.Alarm(scheduler, RUN_JOB_ID, self.wake, clock)  # after a commit
        self._seen_version = -1
        self._checked: int | None = None  # the change log is cross-checked up to here
        self._checked_saved: int | None = None
        self._dirty = False  # a commit arrived while a run was under way
        self._ticking: threading.Thread | None = None  # the thread running a tick
        self._retry = False
        self.wakes = 0  # ticks run (each a reaction to a commit or a due start)
        self.idle_wakes = 0  # ticks that found nothing to do
        self.starts = 0

    @classmethod
    def from_runtime(cls, runtime: Host, launcher: JobLauncher, post: Post | None) -> Conductor:
        """The part wired to the runtime's service, scheduler and lease; ``post`` goes to the
        alert channel."""
        return cls(
            runtime.service,
            launcher,
            runtime.scheduler,
            post=post,
            lease=runtime.lease,
        )

    # --- the part -------------------------------------------------------------------------

    def start(self) -> None:
        """Catch up at once (a restart resumes with the time left), then react to commits."""
        self._alarm.enable()
        self._soon.enable()
        self._service.add_listener(self._on_changes)
        schedule.every(
            self._scheduler, self._watch_seconds, self._watch, WATCH_JOB_ID, first_now=False
        )
        self.wake()

    def stop(self) -> None:
        """Stop reacting; a tick under way cannot arm a wake-up again."""
        self._service.remove_listener(self._on_changes)
        self._alarm.disarm()
        self._soon.disarm()
        schedule.cancel(self._scheduler, WATCH_JOB_ID)

    def halt(self) -> None:
        """Leadership lost: nothing more is posted or started, even by a tick under way."""
        super().halt()
        self.stop()

    def health(self) -> Check:
        """Failing while an announcement or a notice cannot be posted or recorded."""
        return self._alarm.health(self.last_error, "nothing due", f"{self.starts} start(s); ")

    def _on_changes(self, _changes: list[Change]) -> None:
        # On the committer's thread (a Slack listener, the poller): hand off at once. The
        # conductor's own commits need no new run; a run under way runs once more.
        if self._ticking is threading.current_thread():
            return
        self._dirty = True
        if not self._lock.locked():
            self._soon.arm(self._clock())

    def _watch(self) -> None:
        """Commits of other instances and processes: run when the board's version moved."""
        if self._service.version != self._seen_version:
            self.wake()

    def wake(self) -> None:
        """Tick (again while commits arrived meanwhile), then arm the next due start."""
        self._dirty = True
        while self._dirty:
            self._dirty = False
            try:
                self.tick()
            except Exception as exc:  # the job must stay armed; the error boundary logs it
                self.last_error = f"conductor tick failed: {exc}"
                logger.exception("close conductor tick failed; retrying in %g s", RETRY_SECONDS)
                self._alarm.arm(self._clock() + timedelta(seconds=RETRY_SECONDS))
                return
        wake = self.wake_at(self._clock())
        if wake is not None:
            self._alarm.arm(wake)
        else:
            self._alarm.next_wake = None  # nothing due: only a commit wakes the conductor

    @property
    def next_wake(self) -> datetime | None:
        """When the next due start wakes the conductor (None: only a commit will)."""
        return self._alarm.next_wake

    # --- the work -------------------------------------------------------------------------

    def current(self) -> tuple[str, list[Plan]]:
        """The board's period and every auto-started domain's plan, as of now."""
        state = self._service.store.snapshot()
        period = conductor.board_period(state.meta, self.calendar, self._clock())
        plans = conductor.plans(
            self._launcher.estate, self.calendar, state.records, state.meta, period, self._clock()
        )
        return period, plans

    def tick(self) -> None:
        """Announce, start and report whatever is due now (see the module docs)."""
        with self._lock:
            self._ticking = threading.current_thread()
            try:
                self._tick()
            finally:
                self._ticking = None

    def _tick(self) -> None:
        if self._halted:
            return
        self.wakes += 1
        self._seen_version = self._service.version
        self._retry = False
        acted = False
        try:
            period, found = self.current()
            acted |= self._cross_check(period)
            posts = conductor.posts_of(self._service.store.snapshot().meta, period)
            now = self._clock()
            for plan in found:
                if self._halted:
                    return
                acted |= self._step(period, plan, posts, now)
        except FencedError as exc:
            self._fenced_out(exc)
            return
        except StoreError as exc:
            self.last_error = f"cannot record the conductor's work: {exc}"
            logger.warning("%s; retrying in %g s", self.last_error, RETRY_SECONDS)
            self._retry = True
            return
        if not self._retry:
            self.last_error = None
        self.idle_wakes += not acted

    def wake_at(self, now: datetime) -> datetime | None:
        """The next moment a start falls due (or a retry), None when nothing is ahead."""
        _, found = self.current()
        moments = [
            plan.due_at
            for plan in found
            if plan.stage is Stage.SCHEDULED and plan.due_at is not None and plan.due_at > now
        ]
        if self._retry:
            moments.append(now + timedelta(seconds=RETRY_SECONDS))
        return min(moments, default=None)

    def _step(self, period: str, plan: Plan, posts: dict[str, Any], now: datetime) -> bool:
        """Whatever ``plan`` needs now; True when something was posted, started or recorded."""
        if plan.stage is Stage.DONE:
            return self._follow_up(period, plan, posts)
        if not plan.pending or plan.due_at is None:
            return False
        announced = posts.get(_key("announce", plan.name)) in (SENT, DROPPED)
        acted = False
        if not announced:
            minutes = max(0, math.ceil((plan.due_at - now).total_seconds() / 60))
            message = announcement(plan.job, plan.name, plan.due_at, minutes)
            announced = self._post_once(period, _key("announce", plan.name), message)
            acted = True
        if plan.stage is Stage.SCHEDULED and announced and plan.due_at <= now:
            self._start(period, plan)
            acted = True
        return acted

    # --- starting -------------------------------------------------------------------------

    def _start(self, period: str, plan: Plan) -> None:
        """Claim, check the lease, start through the launcher, record the outcome."""
        epoch = self._lease.epoch

        def claim(work: WorkingState) -> bool:
            found = conductor.plans(
                self._launcher.estate, self.calendar, work.records, work.meta, period, self._clock()
            )
            again = next((p for p in found if p.name == plan.name), None)
            if again is None or again.stage is not Stage.SCHEDULED:
                return False  # held, started, running or OK since the board was read
            _put_started(work, period, plan.name, {"state": conductor.CLAIMED, "epoch": epoch})
            return True

        if not self._service.store.commit(self._lease.fenced(claim)):
            return
        app, domain = plan.key
        outcome: dict[str, Any]
        try:
            self._lease.check(f"the start of {plan.job} for {plan.name}")
            launched = self._launcher.run(app, domain, by="system")
        except LeaseLostError:
            logger.info("%s not started: this instance no longer leads", plan.name)
            self.halt()
            self._record(period, plan.name, None)  # nothing was sent: the claim goes
            return
        except JobRunningError as exc:
            outcome = {"state": conductor.SKIPPED, "why": str(exc)}
        except JobStartError as exc:
            state = conductor.IN_DOUBT if exc.maybe_started else conductor.REFUSED
            outcome = {"state": state, "why": str(exc)}
        except ValidationError as exc:  # the job was removed from the configuration
            outcome = {"state": conductor.REFUSED, "why": str(exc)}
        except StoreError as exc:  # EPM started it; the launcher kept its reservation
            outcome = {"state": conductor.IN_DOUBT, "why": str(exc)}
        else:
            self.starts += 1
            outcome = {"state": conductor.STARTED, "job": launched.job_id}
            logger.info("%s: started %s (job %s) by itself", plan.name, plan.job, launched.job_id)
        self._record(period, plan.name, {**outcome, "epoch": epoch})

    def _record(self, period: str, name: str, outcome: dict[str, Any] | None) -> None:
        at = format_time(self._clock())

        def record(work: WorkingState) -> None:
            if outcome is None:
                _drop_started(work, period, name)
            else:
                _put_started(work, period, name, {**outcome, "at": at})

        self._service.store.commit(self._lease.fenced(record))

    # --- after the start ------------------------------------------------------------------

    def _follow_up(self, period: str, plan: Plan, posts: dict[str, Any]) -> bool:
        """Resolve a claim a dead leader left; report a failed or refused start once."""
        marker = dict(plan.started or {})
        state = marker.get("state")
        record = self._service.get(*plan.key)
        if state == conductor.CLAIMED and marker.get("epoch") != self._lease.epoch:
            job = next((j.job_id for j in record.jobs), None)
            if job is not None and record.updated_by == "system":
                self._record(period, plan.name, {**marker, "state": conductor.STARTED, "job": job})
            else:
                why = (
                    "the leader that started it stopped before EPM's answer was recorded; "
                    "it may or may not have started"
                )
                self._record(period, plan.name, {**marker, "state": conductor.IN_DOUBT, "why": why})
            return True
        key = _key("failed", plan.name)
        if posts.get(key) in (SENT, DROPPED):
            return False
        detail = _failure(state, marker, record.status, record.message)
        if detail is None:
            return False
        self._post_once(period, key, failed_notice(plan.job, plan.name, detail))
        return True

    # --- the cross-check ------------------------------------------------------------------

    def _cross_check(self, period: str) -> bool:
        """Dispute what EPM contradicts in the changes since the last check; post alerts."""
        store = self._service.store
        stored = crosscheck.cursor_of(store.snapshot().meta)
        if stored is None:  # first run: from now on, no past disputes

            def start(work: WorkingState) -> None:
                if crosscheck.cursor_of(work.meta) is None:
                    work.put_meta(crosscheck.CROSSCHECK_META, {"version": work.version})

            store.commit(self._lease.fenced(start))
            stored = crosscheck.cursor_of(store.snapshot().meta) or 0
        cursor = max(stored, self._checked or 0)
        acted = False
        if self._service.version > cursor:
            entries = list(store.iter_history_after(cursor))
            last = max((int(e.get("version", 0)) for e in entries), default=cursor)
            disputes = crosscheck.find(store, self.calendar, period, entries)
            # The cursor is saved with every dispute, else every hundred commits: one read
            # again after a restart finds its disputes marked already.
            if disputes or last - (self._checked_saved or stored) >= SAVE_CURSOR_EVERY:
                marked = store.commit(
                    self._lease.fenced(lambda work: crosscheck.record(work, disputes, last))
                )
                self._checked_saved = last
                acted = bool(marked)
                for dispute in marked:
                    logger.warning("%s", dispute.alert())
            self._checked = last
        for key, text in crosscheck.queue_of(store.snapshot().meta).items():
            if self._halted:
                break
            if self._post_once(period, key, disputed_notice(text)):
                store.commit(self._lease.fenced(functools.partial(crosscheck.unqueue, key=key)))
            acted = True
        return acted

    # --- posting once ---------------------------------------------------------------------

    def _post_once(self, period: str, key: str, message: Message) -> bool:
        """Claim ``key`` under the epoch, post, record; True once posted or dropped for good.

        Without a channel the post counts as made: the start does not wait for it.
        """
        if self._post is None:
            self._set_post(period, key, SENT)
            return True
        self._set_post(period, key, self._lease.epoch)
        result = self._post(message.text, blocks=message.blocks, what=key)
        if not self._went_out(result):
            if result.outcome is Outcome.FAILED:
                self.last_error = f"could not post {key}: {result.error}"
                self._retry = True
            return False
        self._set_post(period, key, SENT if result.outcome is Outcome.SENT else DROPPED)
        return True

    def _set_post(self, period: str, key: str, value: Any) -> None:
        def put(work: WorkingState) -> None:
            current = conductor.period_value(work.meta, CONDUCTOR_META, period)
            posts = dict(current.get("posts") or {})
            if posts.get(key) in (SENT, DROPPED):
                return
            posts[key] = value
            work.put_meta(CONDUCTOR_META, {**current, "posts": posts})

        self._service.store.commit(self._lease.fenced(put))


def _key(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def _failure(state: Any, marker: dict[str, Any], status: Status, message: str) -> str | None:
    """What went wrong with an automatic start, or None when nothing did (yet)."""
    if state in (conductor.REFUSED, conductor.IN_DOUBT):
        return f"could not be started: {marker.get('why', 'no details')}"
    if state == conductor.STARTED and status is Status.ERROR:
        job = marker.get("job")
        return f"ended in Error (job {job}{': ' + message if message else ''})"
    return None


def _put_started(work: WorkingState, period: str, name: str, value: dict[str, Any]) -> None:
    current = conductor.period_value(work.meta, CONDUCTOR_META, period)
    started = {**dict(current.get("started") or {}), name: value}
    work.put_meta(CONDUCTOR_META, {**current, "started": started})


def _drop_started(work: WorkingState, period: str, name: str) -> None:
    current = conductor.period_value(work.meta, CONDUCTOR_META, period)
    started = {k: v for k, v in dict(current.get("started") or {}).items() if k != name}
    work.put_meta(CONDUCTOR_META, {**current, "started": started})
