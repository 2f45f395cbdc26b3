"""Alerts and subscription DMs delivered from the durable change log (SPEC §10, §15).

The leader reads the history after a cursor kept in the store's meta and posts, per
commit, the channel alert (changes to Error/Warning, recoveries to OK) and one DM per
subscriber, in commit order. Whoever made the change — this process, another instance,
``epmpulse set`` from a shell — it is announced once.

The cursor ``{"version": V, "partial": W, "sent": [keys]}`` says: every commit up to
version ``V`` is delivered, and of commit ``W`` the posts named in ``sent`` are (a key is
the recipient and the message's place among that recipient's messages, so a subscribe or
unsubscribe in between neither repeats nor skips a DM). It is saved after every post,
fenced by the leader's epoch, so a crash between a post and its record repeats that one
post and nothing else. While the cursor cannot be saved, delivery pauses: nothing more
is posted until the position is recorded. The position used is always the furthest of
the one in memory and the one stored (an ``epmpulse import`` moves the stored one past
the changes it brings). Failed posts are retried with back-off; a post Slack refuses
for good is logged and passed (:mod:`bot.slack.posting`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from slack_sdk import WebClient

from bot.errors import StoreError
from bot.lease import FencedError, Lease
from bot.model import DomainRecord, HistoryEntry, Status
from bot.parts import Check, Host
from bot.schedule import RepeatingPart
from bot.sending import FIRST_BACKOFF_SECONDS, Backoff, Outcome, Sender
from bot.service import Change, StatusService
from bot.slack import CURSOR_META
from bot.slack.alerts import alert_messages, dm_messages, is_alert
from bot.slack.blocks import Message
from bot.slack.posting import post_message
from bot.slack.subscriptions import Subscriptions
from bot.store import WorkingState
from bot.store.base import JsonDict

logger = logging.getLogger(__name__)

JOB_ID = "alert-delivery"
# Commits that needed no post are recorded in the cursor at least this often.
MAX_UNSAVED_COMMITS = 100

_ALL_POSTS = 2**31  # stands for "every post of the commit" in cursor order


@dataclass(frozen=True)
class Cursor:
    """How far delivery got: every commit up to ``version``; of ``partial``, the ``sent`` posts."""

    version: int
    partial: int = 0
    sent: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, stored: Any) -> Cursor | None:
        """The cursor kept in the store's meta; None when there is none (or it is unreadable).

        A cursor written by an older release counts ``sent`` posts instead of naming
        them: of its partial commit it is read as "none sent" (at most those posts repeat).
        """
        if not isinstance(stored, Mapping):
            return None
        try:
            version, partial = int(stored["version"]), int(stored.get("partial", 0))
        except (KeyError, TypeError, ValueError):
            return None
        sent = stored.get("sent")
        keys = frozenset(str(k) for k in sent) if isinstance(sent, list) else frozenset()
        return cls(version, partial if partial > version else 0, keys if partial else frozenset())

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"version": self.version, "partial": self.partial, "sent": sorted(self.sent)}

    def order(self) -> tuple[int, int]:
        """Position in the change log: a later cursor has a larger order."""
        # Every post of commit ``version`` done comes after any part of it.
        return (self.partial, len(self.sent)) if self.partial else (self.version, _ALL_POSTS)

    def sent_in(self, version: int) -> frozenset[str]:
        """The posts of commit ``version`` already delivered."""
        return self.sent if version == self.partial else frozenset()


@dataclass(frozen=True)
class Post:
    """One chat.postMessage: where, what, what kind (for logs) and its key in the cursor."""

    channel: str
    message: Message
    kind: str
    key: str


class Delivery(Sender):
    """Posts the alerts and DMs of every commit after the durable cursor."""

    what = "alert delivery"

    def __init__(
        self,
        service: StatusService,
        client: WebClient,
        channel_id: str | None,
        *,
        lease: Lease | None = None,
        clock: Callable[[], float] = time.monotonic,
        first_backoff: float = FIRST_BACKOFF_SECONDS,
    ) -> None:
        super().__init__(lease)
        self._service = service
        self._client = client
        self._channel_id = channel_id
        self._subscriptions = Subscriptions(service)
        self._backoff = Backoff(clock, first_backoff)
        self.posted = 0
        self._position: Cursor | None = None  # how far this instance got, saved or not
        self._unsaved: Cursor | None = None  # a position posted but not yet recorded

    @property
    def failures(self) -> int:
        """Consecutive failed posts or cursor writes."""
        return self._backoff.failures

    def cursor(self) -> Cursor:
        """The durable cursor; set to the current board on first use (no past alerts)."""
        stored = Cursor.parse(self._service.meta(CURSOR_META))
        if stored is not None:
            return stored

        def start(work: WorkingState) -> Cursor:
            existing = Cursor.parse(work.meta.get(CURSOR_META))
            if existing is not None:
                return existing
            cursor = Cursor(work.version)
            work.put_meta(CURSOR_META, cursor.to_json())
            return cursor

        cursor = self._service.store.commit(self._lease.fenced(start))
        logger.info("alert delivery starts after board version %d", cursor.version)
        return cursor

    def run_once(self) -> int:
        """Deliver everything pending (unless backing off or halted); returns the posts made."""
        if self._halted or self._backoff.waiting:
            return 0
        if self._unsaved is not None and not self._save(self._unsaved):
            return 0  # paused: nothing more is posted until the position is recorded
        cursor = self._furthest()
        if self._service.version <= cursor.version:
            return 0
        posted = 0
        unsaved_commits = 0
        for version, entries in _commits(self._service.store.iter_history_after(cursor.version)):
            posts = self.posts_for(entries)
            sent = set(cursor.sent_in(version))
            to_send = [p for p in posts if p.key not in sent]
            for number, post in enumerate(to_send, start=1):
                if self._halted or not self._post(post):
                    self._position = cursor
                    return posted
                posted += 1
                sent.add(post.key)
                last = number == len(to_send)
                cursor = (
                    Cursor(version) if last else Cursor(cursor.version, version, frozenset(sent))
                )
                if not self._save(cursor):
                    return posted
            unsaved_commits += 1
            if not to_send:
                cursor = Cursor(version)
                # Commits without posts need no write of their own: they cannot be repeated.
                if unsaved_commits >= MAX_UNSAVED_COMMITS:
                    if not self._save(cursor):
                        return posted
                    unsaved_commits = 0
            else:
                unsaved_commits = 0
        self._position = cursor
        return posted

    def save(self) -> None:
        """Record how far delivery got (also past commits that needed no post)."""
        position = self._unsaved or self._position
        if position is not None and not self._halted:
            self._save(position)

    def posts_for(self, entries: list[JsonDict]) -> list[Post]:
        """The channel alert and the subscribers' DMs of one commit, in order."""
        changes = [c for c in (_change(e) for e in entries) if c is not None]
        posts: list[Post] = []
        alerts = [c for c in changes if is_alert(c)]
        if alerts and self._channel_id:
            posts += _keyed(self._channel_id, alert_messages(alerts), "an alert")
        for user, theirs in self._subscriptions.subscribers(changes).items():
            posts += _keyed(user, dm_messages(theirs), "a subscription DM")
        return posts

    def _furthest(self) -> Cursor:
        """The furthest of this instance's position and the stored cursor (never backwards)."""
        stored = self.cursor()
        mine = self._position
        return mine if mine is not None and mine.order() >= stored.order() else stored

    def _post(self, post: Post) -> bool:
        message = post.message
        result = post_message(
            self._client, post.channel, message.text, blocks=message.blocks, what=post.kind
        )
        if not self._went_out(result):
            if result.outcome is Outcome.FAILED:
                wait = self._backoff.failed(at_least=result.retry_after)
                logger.warning("next attempt in %.0f s (nothing after it is skipped)", wait)
            return False
        self._backoff.succeeded()
        self.last_error = None
        self.posted += result.outcome is Outcome.SENT
        return True

    def _save(self, cursor: Cursor) -> bool:
        """Record ``cursor`` durably; False (pausing delivery) when the store refuses.

        The stored cursor only moves forward, and only under this leader's epoch: an old
        leader's late write can never make a leader repeat or skip posts.
        """
        self._unsaved = cursor

        def advance(work: WorkingState) -> None:
            stored = Cursor.parse(work.meta.get(CURSOR_META))
            if stored is None or stored.order() < cursor.order():
                work.put_meta(CURSOR_META, cursor.to_json())

        try:
            self._service.store.commit(self._lease.fenced(advance))
        except FencedError as exc:
            return self._fenced_out(exc)
        except StoreError as exc:
            wait = self._backoff.failed()
            self.last_error = f"cannot record the alert cursor: {exc}"
            logger.warning(
                "%s; delivery paused, retrying in %.0f s (nothing is posted twice)",
                self.last_error,
                wait,
            )
            return False
        self._unsaved = None
        self._position = cursor
        return True


class AlertsPart(RepeatingPart[Delivery]):
    """Alert and DM delivery as a leader-only part: one scheduler job, every second."""

    name = "alerts"
    job_id = JOB_ID

    @classmethod
    def from_runtime(cls, runtime: Host, client: WebClient) -> AlertsPart:
        """Delivery to ``SLACK_CHANNEL_ID`` and subscribers through ``client``."""
        channel = runtime.config.settings.slack_channel_id
        return cls(
            Delivery(runtime.service, client, channel, lease=runtime.lease), runtime.scheduler
        )

    def start(self) -> None:
        """Set the cursor (first run) and deliver every ``tick`` seconds, first run now."""
        self.worker.cursor()
        super().start()

    def stop(self) -> None:
        """Stop delivering; what is not posted yet is posted by the next leader."""
        super().stop()
        try:
            self.worker.save()
        except StoreError:
            logger.warning("could not record the alert cursor; the next leader re-reads a little")

    def health(self) -> Check:
        """Failing while posts keep failing."""
        if not self.started:
            return Check(False, "not started")
        delivery = self.worker
        if delivery.failures:
            return Check(False, f"{delivery.failures} failed post(s), last: {delivery.last_error}")
        return Check(True, f"{delivery.posted} post(s) delivered")


def _commits(entries: Iterable[JsonDict]) -> Iterator[tuple[int, list[JsonDict]]]:
    for version, group in groupby(entries, key=lambda e: int(e.get("version", 0))):
        yield version, list(group)


def _keyed(recipient: str, messages: list[Message], kind: str) -> list[Post]:
    return [Post(recipient, m, kind, f"{recipient}:{n}") for n, m in enumerate(messages)]


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
