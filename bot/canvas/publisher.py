"""Debounced canvas publishing: one ``canvases.edit`` per flush, only when the board changed.

A scheduler job calls :meth:`CanvasPublisher.flush` every ``debounce`` seconds. A flush
renders the board, compares the content hash with the last successful publish (kept in
the store's meta, so it survives a restart) and, when they differ, replaces the whole
document in one call. Comparing content rather than board versions matters: recording
the published hash is itself a commit that bumps the version.

Attempts go through a moving window of Slack's Tier 3 rate for ``canvases.edit``, 50 a
minute (the ``limits`` library), so the publisher never provokes a 429 itself; a flush
over the limit waits like one after a 429. The window counts wall-clock time, as Slack
does; the debounce, Retry-After and back-off run on the publisher's injected clock.

Threads: flushes are serialised by ``_flushing``; every field that listeners, health
checks and flushes share is read and written under ``_state``.

Failures never lose a change, because the board in the store *is* the pending work:

- 429: no call is made before ``Retry-After`` has passed (ticks in between are skipped);
- any other failure: the next attempt waits ``debounce * 2^(n-1)`` seconds after the
  n-th consecutive failure, at most a minute
  (:class:`~bot.sending.Backoff`).

The publisher's WebClient should not retry in place (the leader's
:class:`~bot.slack.client.LeasedWebClient` never does): the tick-level back-off does that
without blocking a scheduler thread or a clean shutdown, and every attempt is checked
against the lease. The published hash is recorded under the leader's epoch, so an old
leader's late record is refused and cannot make a stale canvas look current.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.canvas.render import digest, render_board
from bot.errors import StoreError
from bot.lease import FencedError, Lease, LeaseLostError
from bot.metrics import Metrics
from bot.sending import Backoff
from bot.service import Change, StatusService
from bot.slack.client import WEB_API_ERRORS, retry_after

logger = logging.getLogger(__name__)

PUBLISHED_META = "canvas_published"
DEFAULT_RETRY_AFTER_SECONDS = 30.0
# canvases.edit is a Tier 3 method ("50+ per minute"). Ticks at least this far apart
# stay within it in the steady state; the moving-window limiter guards the rest.
TIER_3_PER_MINUTE = 50
MIN_PUBLISH_INTERVAL_SECONDS = 60 / TIER_3_PER_MINUTE


class FlushResult(StrEnum):
    """What one :meth:`CanvasPublisher.flush` did."""

    PUBLISHED = "published"
    UP_TO_DATE = "up_to_date"
    WAITING = "waiting"
    RATE_LIMITED = "ratelimited"
    FAILED = "failed"
    CLOSED = "closed"

    @property
    def settled(self) -> bool:
        """True when the canvas shows the board as it was read by this flush."""
        return self in (FlushResult.PUBLISHED, FlushResult.UP_TO_DATE)


@dataclass(frozen=True)
class PublishState:
    """A snapshot of the publisher for health checks and tests."""

    canvas_id: str
    pending_seconds: float
    consecutive_failures: int
    last_error: str | None
    retry_in_seconds: float
    publishes: int


class CanvasPublisher:
    """Keeps one canvas equal to the rendered board."""

    def __init__(
        self,
        service: StatusService,
        client: WebClient,
        canvas_id: str,
        *,
        title: str,
        timezone: str = "UTC",
        debounce_seconds: float = 3.0,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        per_minute: int = TIER_3_PER_MINUTE,
        lease: Lease | None = None,
    ) -> None:
        self.canvas_id = canvas_id
        self._lease = lease if lease is not None else Lease.held()
        self._service = service
        self._client = client
        self._title = title
        self._timezone = timezone
        self._metrics = metrics
        self._clock = clock
        self._flushing = threading.Lock()  # one flush at a time (scheduler tick vs. stop)
        self._closed = False
        self._state = threading.Lock()  # every field below but the render cache
        self._forced = False
        self._seen_changes = 0  # changes announced by the service so far
        self._published_changes = 0  # of those, how many are on the canvas
        self._pending_since: float | None = None
        self._backoff = Backoff(clock, debounce_seconds)
        self._last_error: str | None = None
        self._clean_version: int | None = None
        self._last_render: tuple[int, str, str] | None = None
        self._rate = RateLimitItemPerMinute(per_minute)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._publishes = 0
        stored = service.meta(PUBLISHED_META) or {}
        self._published: tuple[Any, Any] = (stored.get("canvas_id"), stored.get("hash"))
        service.add_listener(self._on_changes)
        if metrics is not None:
            metrics.canvas_pending_seconds.set_function(self.pending_seconds)

    # --- inputs ----------------------------------------------------------------------

    def request_refresh(self) -> None:
        """Publish the whole board at the next tick, even if it looks unchanged.

        A forced publish re-sends identical content on purpose: it repairs a canvas that
        was edited by hand. Retry-After and back-off are still honoured.
        """
        with self._state:
            self._forced = True
            if self._pending_since is None:
                self._pending_since = self._clock()

    def close(self) -> None:
        """Stop listening to the service and publish nothing more (this publisher is done).

        A flush already waiting on Slack finishes (bounded by the client's timeout); no
        flush starts a call after this.
        """
        self._closed = True
        self._service.remove_listener(self._on_changes)

    def assume_published(self, content_hash: str) -> None:
        """Record that the canvas already holds content with ``content_hash`` (just created)."""
        with self._flushing:
            self._published = (self.canvas_id, content_hash)
            self._record_published(content_hash, self._service.version)

    def render(self) -> str:
        """The canvas markdown of the current board."""
        return render_board(
            self._service.board(),
            title=self._title,
            timezone=self._timezone,
            close=self._service.close.canvas(),
        )

    # --- the tick ----------------------------------------------------------------------

    def flush(self) -> FlushResult:
        """Publish the board if it differs from the canvas and no wait is in force."""
        with self._flushing:
            if self._closed:  # leadership lost: another instance publishes now
                return FlushResult.CLOSED
            with self._state:
                forced, seen = self._forced, self._seen_changes
            # Read the version before the board: a change landing in between makes the
            # version look older than the board, which only costs one more render.
            version = self._service.version
            if not forced and version == self._clean_version:
                return FlushResult.UP_TO_DATE
            markdown, content_hash = self._rendered(version)
            if not forced and self._published == (self.canvas_id, content_hash):
                self._settle(seen, version)
                return FlushResult.UP_TO_DATE
            if not self._admitted():
                self._mark_pending()
                return FlushResult.WAITING
            return self._publish(markdown, content_hash, forced, seen, version)

    def _admitted(self) -> bool:
        """Whether a call may go out now (no wait in force, room in the minute); counts it."""
        with self._state:
            if self._backoff.waiting:
                return False
            if self._limiter.hit(self._rate, self.canvas_id):
                return True
            window = self._limiter.get_window_stats(self._rate, self.canvas_id)
            self._backoff.hold(max(0.0, window.reset_time - time.time()))
            self._last_error = (
                f"holding back: Slack allows canvases.edit {self._rate.amount} per minute"
            )
        logger.info("canvas %s: per-minute limit reached; waiting", self.canvas_id)
        return False

    def _rendered(self, version: int) -> tuple[str, str]:
        # While a publish waits (Retry-After, back-off) ticks reuse the last rendering.
        if self._last_render is None or self._last_render[0] != version:
            markdown = self.render()
            self._last_render = (version, markdown, digest(markdown))
        return self._last_render[1], self._last_render[2]

    def _mark_pending(self) -> None:
        with self._state:
            if self._pending_since is None:  # e.g. a change saved before a restart
                self._pending_since = self._clock()

    def _publish(
        self, markdown: str, content_hash: str, forced: bool, seen: int, version: int
    ) -> FlushResult:
        self._mark_pending()
        started = self._clock()
        with self._state:
            coalesced = seen - self._published_changes
            # Cleared now so a refresh requested during the call is not lost; put back
            # below unless the publish succeeds.
            self._forced = False
        published = False
        try:
            replace_document(self._client, self.canvas_id, markdown)
            published = True
        except LeaseLostError:
            logger.info("canvas %s: not published, this instance no longer leads", self.canvas_id)
            self.close()
            return FlushResult.CLOSED
        except WEB_API_ERRORS as exc:
            return self._failed(exc, coalesced, started, len(markdown))
        finally:
            if not published:  # a refresh request survives any failure
                with self._state:
                    self._forced = self._forced or forced
        elapsed = self._clock() - started
        self._published = (self.canvas_id, content_hash)
        self._record_published(content_hash, version)
        self._settle(seen, version, started)
        with self._state:
            self._publishes += 1
            self._backoff.succeeded()
            self._last_error = None
        self._count("ok")
        logger.info(
            "canvas %s published: %d change(s) coalesced%s, %d bytes, %.0f ms, result=ok",
            self.canvas_id,
            coalesced,
            " (forced refresh)" if forced else "",
            len(markdown.encode("utf-8")),
            elapsed * 1000,
        )
        return FlushResult.PUBLISHED

    def _failed(self, exc: Exception, coalesced: int, started: float, size: int) -> FlushResult:
        now = self._clock()
        asked = retry_after(exc, default=DEFAULT_RETRY_AFTER_SECONDS)
        with self._state:
            if asked is not None:
                self._backoff.hold(asked)
                self._last_error = f"rate limited; Retry-After {asked:g} s"
                result = FlushResult.RATE_LIMITED
            else:
                self._backoff.failed()
                self._last_error = _describe(exc)
                result = FlushResult.FAILED
            error, wait = self._last_error, self._backoff.retry_at - now
        self._count(result.value)
        logger.warning(
            "canvas %s not published: %d change(s) pending, %d bytes, %.0f ms, result=%s (%s); "
            "next attempt in %.1f s",
            self.canvas_id,
            coalesced,
            size,
            (now - started) * 1000,
            result.value,
            error,
            wait,
        )
        return result

    def _record_published(self, content_hash: str, version: int) -> None:
        value = {"canvas_id": self.canvas_id, "hash": content_hash, "board_version": version}
        record = self._lease.fenced(lambda work: work.put_meta(PUBLISHED_META, value))
        try:
            self._service.transact(lambda work, _now: (record(work), []))
        except FencedError as exc:
            # A newer leader publishes now; its own record is the one that counts.
            logger.warning("canvas %s: publishing stops: %s", self.canvas_id, exc)
            self.close()
            self._lease.lost(str(exc))
        except StoreError:
            # The canvas is right; only a restart would re-send the same content once.
            logger.exception("canvas published but its hash could not be saved")

    def _settle(self, seen: int, version: int, read_at: float | None = None) -> None:
        with self._state:
            self._published_changes = seen
            if self._seen_changes != seen and read_at is not None:
                # Changes that arrived while publishing are at most this old.
                self._pending_since = read_at
            elif self._seen_changes == seen and not self._forced:
                self._pending_since = None
                # The meta write after a publish bumps the version; the next tick renders
                # once more, finds the same hash and remembers that version instead.
                self._clean_version = version

    def _on_changes(self, changes: list[Change]) -> None:
        with self._state:
            self._seen_changes += len(changes)
            if self._pending_since is None:
                self._pending_since = self._clock()

    # --- observation ----------------------------------------------------------------------

    @property
    def pending(self) -> bool:
        """True while a change or a refresh request is not yet on the canvas."""
        with self._state:
            return self._pending_since is not None or self._forced

    def pending_seconds(self) -> float:
        """Age of the oldest change not yet on the canvas; 0 when up to date."""
        with self._state:
            since = self._pending_since
        return 0.0 if since is None else max(0.0, self._clock() - since)

    def state(self) -> PublishState:
        """A snapshot for health checks and tests (one consistent reading)."""
        now = self._clock()
        with self._state:
            since = self._pending_since
            return PublishState(
                canvas_id=self.canvas_id,
                pending_seconds=0.0 if since is None else max(0.0, now - since),
                consecutive_failures=self._backoff.failures,
                last_error=self._last_error,
                retry_in_seconds=max(0.0, self._backoff.retry_at - now),
                publishes=self._publishes,
            )

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.canvas_publishes.labels(result=result).inc()


def replace_document(client: WebClient, canvas_id: str, markdown: str) -> None:
    """Replace the whole canvas with ``markdown`` in one ``canvases.edit`` call."""
    client.canvases_edit(
        canvas_id=canvas_id,
        changes=[
            {
                "operation": "replace",
                "document_content": {"type": "markdown", "markdown": markdown},
            }
        ],
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, SlackApiError) and exc.response is not None:
        error = exc.response.get("error") or "error"
        return f"HTTP {exc.response.status_code}: {error}"
    return f"{type(exc).__name__}: {exc}"
