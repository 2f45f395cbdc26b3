"""Alerts: channel posts for changes to Error/Warning and recoveries, DMs for subscribers.

:meth:`Alerts.on_changes` is a status-service listener; it runs after the change is
durable, builds the messages and hands them to one background worker with a bounded
queue, so a slow or rate-limited Slack never delays the reply to the user and never
undoes a change. Failures are logged with their traceback.

The WebClient should not sleep through a long Retry-After (see
:data:`MAX_RETRY_AFTER_SECONDS`), or one alert could hold up shutdown for minutes.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from slack_sdk import WebClient

from bot.model import Status
from bot.service import Change
from bot.slack.blocks import Message, section_blocks, to_messages
from bot.slack.client import WEB_API_ERRORS
from bot.slack.subscriptions import Subscriptions
from bot.slack.text import author, escape

logger = logging.getLogger(__name__)

ALERT_STATUSES = frozenset({Status.ERROR, Status.WARNING})
MAX_PENDING = 200
STOP_TIMEOUT_SECONDS = 10.0
# The longest Retry-After the alerts client waits out in place; a longer one drops the alert.
MAX_RETRY_AFTER_SECONDS = 5.0


def is_alert(change: Change) -> bool:
    """A change to Error or Warning, or a recovery from them to OK."""
    if not change.status_changed:
        return False
    new, old = change.new.status, change.old.status
    return new in ALERT_STATUSES or (new is Status.OK and old in ALERT_STATUSES)


def change_line(change: Change) -> str:
    """One change as an mrkdwn line: emoji, app / domain, old → new, who, message."""
    new = change.new
    line = (
        f"{new.status.emoji} *{escape(new.app)} / {escape(new.domain)}* "
        f"{change.old.status.value} → *{new.status.value}* by {author(new.updated_by)}"
    )
    if new.message:
        line += f" · {escape(new.message.replace(chr(10), ' '))}"
    return line


def alert_messages(changes: list[Change]) -> list[Message]:
    """The channel message(s) announcing ``changes``."""
    first = changes[0].new
    text = f"{first.app} / {first.domain} is now {first.status.value}"
    if len(changes) > 1:
        text += f" (and {len(changes) - 1} more change(s))"
    return to_messages(section_blocks(change_line(c) for c in changes), text)


def dm_messages(changes: list[Change]) -> list[Message]:
    """The direct message(s) telling a subscriber about ``changes``."""
    first = changes[0].new
    text = f"EPMPulse: {first.app} / {first.domain} changed"
    lines = [change_line(c) for c in changes]
    lines.append("_You get this because you subscribed with `/epmpulse subscribe`._")
    return to_messages(section_blocks(lines), text)


class Alerts:
    """Posts alerts and subscription DMs from a bounded background queue."""

    def __init__(
        self,
        client: WebClient,
        channel_id: str | None,
        subscriptions: Subscriptions,
        *,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._client = client
        self._channel_id = channel_id
        self._subscriptions = subscriptions
        # One worker keeps alerts in commit order; the semaphore bounds the queue.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slack-alerts")
        self._slots = threading.BoundedSemaphore(max_pending)
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def on_changes(self, changes: list[Change]) -> None:
        """Service listener: queue the channel alert and the subscribers' DMs."""
        if self._closed:
            return
        alerts = [c for c in changes if is_alert(c)]
        if alerts and self._channel_id:
            self._submit(self._channel_id, alert_messages(alerts), "an alert")
        for user, theirs in self._subscriptions.subscribers(changes).items():
            self._submit(user, dm_messages(theirs), "a subscription DM")

    def close(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop accepting alerts; wait up to ``timeout`` seconds for queued ones."""
        self._closed = True
        with self._lock:
            pending = set(self._pending)
        _, not_done = wait(pending, timeout=timeout)
        if not_done:
            logger.error("dropping %d queued Slack alert(s) on shutdown", len(not_done))
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _submit(self, channel: str, messages: list[Message], kind: str) -> None:
        if not self._slots.acquire(blocking=False):
            logger.error("Slack alert queue is full; dropping %s to %s", kind, channel)
            return
        try:
            future = self._executor.submit(self._post, channel, messages, kind)
        except RuntimeError:  # shut down between the check and the submit
            self._slots.release()
            return
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)
        self._slots.release()
        error = None if future.cancelled() else future.exception()
        if error is not None:  # a bug: _post handles every failure it expects
            logger.error("posting a Slack alert failed", exc_info=error)

    def _post(self, channel: str, messages: list[Message], kind: str) -> None:
        for message in messages:
            try:
                self._client.chat_postMessage(
                    channel=channel, text=message.text, blocks=message.blocks
                )
            except WEB_API_ERRORS:
                logger.exception(
                    "could not post %s to %s; the change itself is saved", kind, channel
                )
                return
        logger.info("posted %s to %s", kind, channel)
