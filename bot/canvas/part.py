"""The canvas as one part of the ``epmpulse run`` process.

Start-up resolves the canvas (see :mod:`bot.canvas.lifecycle`) and schedules the flush
job every ``EPMPULSE_CANVAS_DEBOUNCE_SECONDS`` (at least every 1.2 s, the spacing that
keeps ``canvases.edit`` within Slack's Tier 3 limit), first run right away so a change saved
before a restart is published at once. Stopping removes the job and flushes pending
work, waiting at most ``stop_timeout`` seconds; whatever is still pending then stays in
the store and is published after the next start.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient

from bot import schedule
from bot.canvas.lifecycle import resolve_canvas
from bot.canvas.publisher import MIN_PUBLISH_INTERVAL_SECONDS, CanvasPublisher, FlushResult
from bot.canvas.render import render_board
from bot.parts import Check, Host
from bot.service import StatusService
from bot.slack.client import build_leased_client
from bot.store import WorkingState

logger = logging.getLogger(__name__)

JOB_ID = "canvas-flush"
# A /epmpulse refresh typed on an instance that does not lead: a counter in the store.
REFRESH_META = "canvas_refresh_requests"
STOP_TIMEOUT_SECONDS = 10.0
# Longest pending time still reported healthy, as a multiple of the debounce period.
STALE_AFTER_DEBOUNCES = 10
STALE_AFTER_MIN_SECONDS = 60.0
DRAIN_MIN_SLEEP_SECONDS = 0.05  # between flushes at stop, so a wait of ~0 cannot spin


class CanvasPart:
    """Keeps the configured canvas equal to the board while the process runs."""

    name = "canvas"

    def __init__(
        self,
        runtime: Host,
        *,
        client: WebClient | None = None,
        startup_client: WebClient | None = None,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
    ) -> None:
        settings = runtime.config.settings
        self._runtime = runtime
        # Every call of the leader's canvas is checked against its lease (SPEC §15).
        leased = build_leased_client(settings, runtime.lease)
        self._client = client if client is not None else leased
        self._startup_client = startup_client if startup_client is not None else leased
        self._stop_timeout = stop_timeout
        self._refresh_requested = threading.Event()
        self._refreshes_seen: object = 0
        self.publisher: CanvasPublisher | None = None

    def start(self) -> None:
        """Resolve the canvas (fails clearly if it does not exist) and schedule flushes."""
        config = self._runtime.config
        canvas = config.estate.canvas
        service = self._runtime.service
        resolved = resolve_canvas(
            self._startup_client,
            service,
            canvas_id=config.settings.slack_canvas_id,
            channel_id=config.settings.slack_channel_id,
            title=canvas.title,
            markdown=render_board(
                service.board(),
                title=canvas.title,
                timezone=canvas.timezone,
                close=service.close.canvas(),
            ),
        )
        publisher = CanvasPublisher(
            service,
            self._client,
            resolved.canvas_id,
            title=canvas.title,
            timezone=canvas.timezone,
            debounce_seconds=config.settings.canvas_debounce_seconds,
            metrics=self._runtime.metrics,
            lease=self._runtime.lease,
        )
        if resolved.published_with is not None:
            publisher.assume_published(resolved.published_with)
        if self._refresh_requested.is_set():
            publisher.request_refresh()
        self.publisher = publisher
        # Ticks faster than publishes may go out would only add latency at the boundary.
        period = max(config.settings.canvas_debounce_seconds, MIN_PUBLISH_INTERVAL_SECONDS)
        self._refreshes_seen = service.meta(REFRESH_META, 0)
        schedule.every(self._runtime.scheduler, period, self._tick, JOB_ID)
        logger.info("canvas %s: flushing every %g s", resolved.canvas_id, period)

    def _tick(self) -> FlushResult:
        """One scheduled flush, after taking up refreshes requested on other instances."""
        assert self.publisher is not None
        requested = self._runtime.service.meta(REFRESH_META, 0)
        if requested != self._refreshes_seen:
            self._refreshes_seen = requested
            self.publisher.request_refresh()
        return self.publisher.flush()

    def halt(self) -> None:
        """Stop flushing at once, publishing nothing more (leadership lost)."""
        schedule.cancel(self._runtime.scheduler, JOB_ID)
        if self.publisher is not None:
            self.publisher.close()

    def request_refresh(self) -> None:
        """Publish the whole board at the next tick (``/epmpulse refresh``)."""
        if self.publisher is None:
            self._refresh_requested.set()
        else:
            self.publisher.request_refresh()

    def stop(self) -> None:
        """Stop flushing on schedule, then publish pending work within ``stop_timeout``."""
        schedule.cancel(self._runtime.scheduler, JOB_ID)
        if self.publisher is not None:
            drain(self.publisher, self._stop_timeout)
            self.publisher.close()

    def health(self) -> Check:
        """Healthy while publishes succeed and no change waits longer than it should."""
        if self.publisher is None:
            return Check(False, "not started")
        state = self.publisher.state()
        debounce = self._runtime.config.settings.canvas_debounce_seconds
        stale_after = max(STALE_AFTER_MIN_SECONDS, STALE_AFTER_DEBOUNCES * debounce)
        if state.consecutive_failures:
            return Check(
                False,
                f"canvas {state.canvas_id}: {state.consecutive_failures} failed publish(es), "
                f"last: {state.last_error}; pending {state.pending_seconds:.0f} s",
            )
        if state.pending_seconds > stale_after:
            why = f" ({state.last_error})" if state.last_error else ""
            return Check(
                False,
                f"canvas {state.canvas_id}: changes pending {state.pending_seconds:.0f} s{why}",
            )
        if state.pending_seconds:
            return Check(
                True, f"canvas {state.canvas_id}: publishing, pending {state.pending_seconds:.0f} s"
            )
        return Check(True, f"canvas {state.canvas_id}: up to date")


def request_remote_refresh(service: StatusService) -> None:
    """Ask whichever instance leads to republish the whole canvas at its next tick."""

    def bump(work: WorkingState) -> None:
        work.put_meta(REFRESH_META, int(work.meta.get(REFRESH_META, 0)) + 1)

    service.store.commit(bump)


def drain(publisher: CanvasPublisher, timeout: float) -> bool:
    """Flush until the canvas is up to date or ``timeout`` passes; True when up to date."""
    deadline = time.monotonic() + timeout
    while True:
        result = publisher.flush()
        if result is FlushResult.UP_TO_DATE and not publisher.pending:
            return True
        if result is FlushResult.CLOSED:  # halted: the leader now publishes
            return False
        remaining = deadline - time.monotonic()
        wait = publisher.state().retry_in_seconds
        if remaining <= 0 or wait > remaining:
            logger.warning(
                "canvas %s not up to date at shutdown (%s); the board is saved and will be "
                "published after the next start",
                publisher.canvas_id,
                publisher.state().last_error or result.value,
            )
            return False
        time.sleep(max(wait, DRAIN_MIN_SLEEP_SECONDS))
