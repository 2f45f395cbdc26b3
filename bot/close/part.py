"""The close calendar as a part of ``epmpulse run``: wakes at deadlines and roll-overs.

One APScheduler ``date`` job is armed for the next moment anything can happen (the
next deadline of the current close not yet recorded as passed, or the next close's
start at 00:00 on the 1st) and re-armed after every run, so nothing wakes between
deadlines. A run (:meth:`ClosePart.tick`):

1. rolls over when the board belongs to an earlier close (archive, reset);
2. records passed deadlines (the canvas republishes) and queues overdue alerts;
3. posts queued alerts to ``SLACK_CHANNEL_ID`` (claimed first, see
   :mod:`bot.close.overdue`); a failure re-arms a retry soon.

Start runs one tick at once, so a deadline or a roll-over that passed while nothing
ran is handled then. The clock is injected; tests call :meth:`tick` directly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler

from bot import schedule
from bot.close import overdue, rollover
from bot.close.calendar import CloseCalendar, key_name
from bot.close.live import PASSED_META, marker_keys
from bot.lease import Lease
from bot.model import utcnow
from bot.parts import Check, Host
from bot.sending import Post
from bot.service import StatusService

logger = logging.getLogger(__name__)

JOB_ID = "close-wake"
RETRY_SECONDS = 60.0


class ClosePart:
    """Deadlines, overdue alerts and the monthly roll-over (SPEC §11)."""

    name = "close"

    def __init__(
        self,
        service: StatusService,
        scheduler: BaseScheduler,
        *,
        post: Post | None,
        reset: bool,
        clock: Callable[[], datetime] = utcnow,
        lease: Lease | None = None,
    ) -> None:
        self._service = service
        self._reset = reset
        self._clock = clock
        self.calendar: CloseCalendar = service.close.calendar
        self._lock = threading.Lock()  # one tick at a time (start vs. the scheduler)
        self._alarm = schedule.Alarm(scheduler, JOB_ID, self.wake, clock)
        self._alerts_ok = True
        self._alerts = (
            overdue.OverdueAlerts(service, self.calendar, post, lease=lease)
            if post is not None
            else None
        )
        self._last_error: str | None = None
        self.wakes = 0

    @classmethod
    def from_runtime(cls, runtime: Host, post: Post | None) -> ClosePart:
        """The part wired to the runtime's service and scheduler; ``post`` goes to the alert
        channel (None: no overdue alerts)."""
        close = runtime.config.estate.close
        return cls(
            runtime.service,
            runtime.scheduler,
            post=post,
            reset=bool(close and close.reset),
            lease=runtime.lease,
        )

    @property
    def alerting(self) -> bool:
        """Whether overdue alerts have somewhere to go."""
        return self._alerts is not None

    def start(self) -> None:
        """Catch up at once (roll-over, passed deadlines, queued alerts), then arm the job."""
        self._alarm.enable()
        self.wake()

    def stop(self) -> None:
        """Disarm the wake-up job; a tick under way cannot arm it again."""
        self._alarm.disarm()

    def halt(self) -> None:
        """Stop at once (leadership lost): disarm, and a tick under way posts nothing more."""
        if self._alerts is not None:
            self._alerts.halt()
        self.stop()

    def health(self) -> Check:
        """Healthy while ticks and alert posts succeed."""
        return self._alarm.health(self._last_error, "not armed")

    # --- the work -------------------------------------------------------------------------

    def tick(self) -> None:
        """Roll over if due, record passed deadlines, post queued alerts."""
        with self._lock:
            now = self._clock()
            self.wakes += 1
            if rollover.needs_roll_over(self._service, self.calendar, now) or self.wakes == 1:
                rollover.roll_over(self._service, self.calendar, now, reset=self._reset)
            overdue.mark_passed(self._service, self.calendar, now, alerting=self.alerting)
            self._alerts_ok = True
            if self._alerts is not None:
                period = overdue.current_period(self._service, self.calendar, now)
                self._alerts_ok = self._alerts.send(period)

    def wake_at(self, now: datetime) -> datetime:
        """The next moment anything can happen after ``now``."""
        period = overdue.current_period(self._service, self.calendar, now)
        passed = set(marker_keys(self._service.store.snapshot().meta, PASSED_META, period))
        moments = [self.calendar.next_close_start(now)]
        for key in self.calendar.deadlines:
            due = self.calendar.due_at(period, key)
            if due is not None and key_name(key) not in passed:
                moments.append(max(due, now))
        if not self._alerts_ok:
            moments.append(now + timedelta(seconds=RETRY_SECONDS))
        return min(moments)

    def wake(self) -> None:
        """The scheduled job: one tick, then arm the next wake-up (a failed tick retries)."""
        try:
            self.tick()
            self._last_error = None if self._alerts_ok else "overdue alerts not yet sent"
        except Exception as exc:  # the job must stay armed; the error boundary logs it
            self._last_error = f"close tick failed: {exc}"
            logger.exception("close calendar tick failed; retrying in %g s", RETRY_SECONDS)
            self._alarm.arm(self._clock() + timedelta(seconds=RETRY_SECONDS))
            return
        self._alarm.arm(self.wake_at(self._clock()))

    @property
    def next_wake(self) -> datetime | None:
        """When the part wakes next (None until armed)."""
        return self._alarm.next_wake
