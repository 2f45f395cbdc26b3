"""Alerts and subscription DMs delivered from the durable change log (SPEC §10).

The leader reads the history after a cursor kept in the store's meta and posts, per
commit, the channel alert (changes to Error/Warning, recoveries to OK) and one DM per
subscriber, in commit order. Whoever made the change — this process, another instance,
``epmpulse set`` from a shell — it is announced once.

The cursor ``{"version": V, "partial": W, "sent": K}`` says: every commit up to version
``V`` is delivered, and of commit ``W`` the first ``K`` posts are. It is advanced after
every post, so a crash between a post and its record repeats that one post, nothing
else. A post Slack cannot take right now (network, 429, 5xx) is retried with back-off
and nothing after it is skipped; a post Slack refuses for good (an archived channel, a
deleted user) is logged and passed, or it would block every later alert.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import StoreError
from bot.model import DomainRecord, HistoryEntry, Status
from bot.runtime import Check, Runtime
from bot.service import Change, StatusService
from bot.slack.alerts import alert_messages, dm_messages, is_alert
from bot.slack.blocks import Message
from bot.slack.client import WEB_API_ERRORS
from bot.slack.subscriptions import Subscriptions
from bot.store import WorkingState
from bot.store.base import ALERT_CURSOR_META, JsonDict

logger = logging.getLogger(__name__)

CURSOR_META = ALERT_CURSOR_META
JOB_ID = "alert-delivery"
TICK_SECONDS = 1.0
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
# Commits that needed no post are recorded in the cursor at least this often.
MAX_UNSAVED_COMMITS = 100


_ALL_POSTS = 2**31  # stands for "every post of the commit" in cursor order


@dataclass(frozen=True)
class Cursor:
    """How far delivery got: every commit up to ``version``, and ``sent`` posts of ``partial``."""

    version: int
    partial: int = 0
    sent: int = 0

    def to_json(self) -> dict[str, int]:
        """The stored form."""
        return {"version": self.version, "partial": self.partial, "sent": self.sent}

    def order(self) -> tuple[int, int]:
        """Position in the change log: a later cursor has a larger order."""
        # Every post of commit ``version`` done comes after any part of it.
        return (self.partial, self.sent) if self.partial else (self.version, _ALL_POSTS)


@dataclass(frozen=True)
class Post:
    """One chat.postMessage: where, what, and what kind (for logs)."""

    channel: str
    message: Message
    kind: str


class Delivery:
    """Posts the alerts and DMs of every commit after the durable cursor."""

    def __init__(
        self,
        service: StatusService,
        client: WebClient,
        channel_id: str | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        first_backoff: float = FIRST_BACKOFF_SECONDS,
    ) -> None:
        self._service = service
        self._client = client
        self._channel_id = channel_id
        self._subscriptions = Subscriptions(service)
        self._clock = clock
        self._first_backoff = first_backoff
        self._retry_at = 0.0
        self.failures = 0
        self.last_error: str | None = None
        self.posted = 0
        self._position: Cursor | None = None  # how far this instance got, saved or not
        self._halted = False
        self._saved = 0

    def cursor(self) -> Cursor:
        """The durable cursor; set to the current board on first use (no past alerts)."""
        raw = self._service.meta(CURSOR_META)
        if isinstance(raw, dict) and isinstance(raw.get("version"), int):
            self._saved = max(self._saved, int(raw["version"]))
            return Cursor(int(raw["version"]), int(raw.get("partial", 0)), int(raw.get("sent", 0)))

        def start(work: WorkingState) -> Cursor:
            existing = work.meta.get(CURSOR_META)
            if isinstance(existing, dict) and isinstance(existing.get("version"), int):
                return Cursor(int(existing["version"]), existing.get("partial", 0), 0)
            cursor = Cursor(work.version)
            work.put_meta(CURSOR_META, cursor.to_json())
            return cursor

        cursor = self._service.store.commit(start)
        self._saved = cursor.version
        logger.info("alert delivery starts after board version %d", cursor.version)
        return cursor

    def run_once(self) -> int:
        """Deliver everything pending (unless backing off); returns the posts made."""
        if self._clock() < self._retry_at:
            return 0
        cursor = self._position or self.cursor()
        if self._service.version <= cursor.version:
            return 0
        posted = 0
        for version, entries in _commits(self._service.store.iter_history_after(cursor.version)):
            posts = self.posts_for(entries)
            done = cursor.sent if version == cursor.partial else 0
            for index in range(done, len(posts)):
                if self._halted or not self._post(posts[index]):
                    self._position = cursor
                    return posted
                posted += 1
                cursor = Cursor(cursor.version, version, index + 1)
                if index + 1 < len(posts) and not self._save(cursor):
                    return posted
            cursor = Cursor(version)
            # Commits without posts need no write of their own: they cannot be repeated.
            if (posts or version - self._saved >= MAX_UNSAVED_COMMITS) and not self._save(cursor):
                return posted
        self._position = cursor
        return posted

    def halt(self) -> None:
        """Post nothing more (leadership lost); a tick under way stops before its next post."""
        self._halted = True

    def save(self) -> None:
        """Record how far delivery got (also past commits that needed no post)."""
        if self._position is not None and self._position.version > self._saved:
            self._save(self._position)

    def posts_for(self, entries: list[JsonDict]) -> list[Post]:
        """The channel alert and the subscribers' DMs of one commit, in order."""
        changes = [c for c in (_change(e) for e in entries) if c is not None]
        posts: list[Post] = []
        alerts = [c for c in changes if is_alert(c)]
        if alerts and self._channel_id:
            posts += [Post(self._channel_id, m, "an alert") for m in alert_messages(alerts)]
        for user, theirs in self._subscriptions.subscribers(changes).items():
            posts += [Post(user, m, "a subscription DM") for m in dm_messages(theirs)]
        return posts

    def _post(self, post: Post) -> bool:
        try:
            self._client.chat_postMessage(
                channel=post.channel, text=post.message.text, blocks=post.message.blocks
            )
        except WEB_API_ERRORS as exc:
            if _permanent(exc):
                logger.exception(
                    "could not post %s to %s; Slack refuses it for good, so it is passed",
                    post.kind,
                    post.channel,
                )
                return True
            self.failures += 1
            wait = min(MAX_BACKOFF_SECONDS, self._first_backoff * 2 ** (self.failures - 1))
            self._retry_at = self._clock() + max(wait, _retry_after(exc))
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.exception(
                "could not post %s to %s; retrying in %.0f s (nothing after it is skipped)",
                post.kind,
                post.channel,
                self._retry_at - self._clock(),
            )
            return False
        self.failures, self.last_error = 0, None
        self.posted += 1
        logger.info("posted %s to %s", post.kind, post.channel)
        return True

    def _save(self, cursor: Cursor) -> bool:
        """Record ``cursor`` durably; False (after backing off) when the store refuses.

        What was posted stays posted: the position is kept in memory, so the next tick
        goes on after it instead of posting it again. The stored cursor only moves
        forward, so a late write (an old leader's) can never make a leader repeat posts.
        """
        self._position = cursor

        def advance(work: WorkingState) -> None:
            stored = work.meta.get(CURSOR_META)
            if isinstance(stored, dict) and _stored_order(stored) >= cursor.order():
                return
            work.put_meta(CURSOR_META, cursor.to_json())

        try:
            self._service.store.commit(advance)
        except StoreError as exc:
            self.failures += 1
            wait = min(MAX_BACKOFF_SECONDS, self._first_backoff * 2 ** (self.failures - 1))
            self._retry_at = self._clock() + wait
            self.last_error = f"cannot record the alert cursor: {exc}"
            logger.warning(
                "%s; retrying in %.0f s (nothing is posted twice)", self.last_error, wait
            )
            return False
        self._saved = cursor.version
        return True


class AlertsPart:
    """Alert and DM delivery as a leader-only part: one scheduler job."""

    name = "alerts"

    def __init__(
        self, delivery: Delivery, scheduler: BaseScheduler, *, tick: float = TICK_SECONDS
    ) -> None:
        self.delivery = delivery
        self._scheduler = scheduler
        self._tick = tick
        self._started = False

    @classmethod
    def from_runtime(cls, runtime: Runtime, client: WebClient) -> AlertsPart:
        """Delivery to ``SLACK_CHANNEL_ID`` and subscribers through ``client``."""
        settings = runtime.config.settings
        return cls(Delivery(runtime.service, client, settings.slack_channel_id), runtime.scheduler)

    def start(self) -> None:
        """Set the cursor (first run) and deliver every ``tick`` seconds, first run now."""
        self.delivery.cursor()
        self._scheduler.add_job(
            self.delivery.run_once,
            "interval",
            seconds=self._tick,
            id=JOB_ID,
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            replace_existing=True,
        )
        self._started = True

    def stop(self) -> None:
        """Stop delivering; what is not posted yet is posted by the next leader."""
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(JOB_ID)
        self._started = False
        try:
            self.delivery.save()
        except StoreError:
            logger.warning("could not record the alert cursor; the next leader re-reads a little")

    def halt(self) -> None:
        """Stop delivering at once (leadership lost): no more posts, no more writes."""
        self.delivery.halt()
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(JOB_ID)
        self._started = False

    def health(self) -> Check:
        """Failing while posts keep failing."""
        if not self._started:
            return Check(False, "not started")
        if self.delivery.failures:
            return Check(
                False,
                f"{self.delivery.failures} failed post(s), last: {self.delivery.last_error}",
            )
        return Check(True, f"{self.delivery.posted} post(s) delivered")


def _commits(entries: Iterable[JsonDict]) -> Iterator[tuple[int, list[JsonDict]]]:
    for version, group in groupby(entries, key=lambda e: int(e.get("version", 0))):
        yield version, list(group)


def _change(entry: JsonDict) -> Change | None:
    """The change one history entry records (None for an entry that cannot be read)."""
    try:
        change = HistoryEntry.from_json(entry)
    except ValueError:
        logger.warning("an entry of version %s cannot be read; not alerted", entry.get("version"))
        return None
    old = DomainRecord(
        app=change.app, domain=change.domain, status=change.old_status or Status.PENDING
    )
    return Change(old, change.record())


# Refusals that concern this one post and that no retry can change. Anything else (a
# revoked token, Slack's own internal_error, a timeout) is retried with back-off: the
# alert waits until it can be posted, and nothing after it is skipped.
_FINAL_ERRORS = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "cannot_dm_bot",
        "user_not_found",
        "user_disabled",
        "messages_tab_disabled",
        "restricted_action",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_blocks_format",
    }
)


def _permanent(exc: Exception) -> bool:
    """Slack refused this post for a reason no retry can change."""
    if not isinstance(exc, SlackApiError) or exc.response is None:
        return False
    return exc.response.get("error") in _FINAL_ERRORS


def _stored_order(stored: dict[str, Any]) -> tuple[int, int]:
    try:
        return Cursor(
            int(stored["version"]), int(stored.get("partial", 0)), int(stored.get("sent", 0))
        ).order()
    except (KeyError, TypeError, ValueError):
        return (-1, -1)


def _retry_after(exc: Exception) -> float:
    if not isinstance(exc, SlackApiError) or exc.response is None:
        return 0.0
    headers: Any = exc.response.headers or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0
