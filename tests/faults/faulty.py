"""Named fault points for the fault suite: a process killed at a line, a store that can
read but not write, a leader beat held at a gate."""

from __future__ import annotations

import errno
import threading
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.web import SlackResponse

from bot.errors import StoreError
from bot.leader import PostgresLeadership
from bot.store import JsonStore, Mutation

T = TypeVar("T")


class Crash(BaseException):
    """The process dies here: nothing after this line runs (no handler catches it)."""


class CrashingClient(WebClient):
    """A WebClient over ``inner``'s Slack whose ``crash_on_post``-th chat.postMessage crashes.

    ``after_sending`` picks the crash window: after Slack got the post, or before it did.
    """

    def __init__(
        self, inner: WebClient, *, crash_on_post: int | None, after_sending: bool = False
    ) -> None:
        super().__init__(token=inner.token, base_url=inner.base_url, retry_handlers=[])
        self.crash_on_post = crash_on_post
        self.after_sending = after_sending
        self.posts = 0

    def chat_postMessage(self, **kwargs: Any) -> SlackResponse:
        """Post, crashing before or after the chosen post."""
        self.posts += 1
        crash = self.posts == self.crash_on_post
        if crash and not self.after_sending:
            raise Crash(f"killed before post {self.posts}")
        response = super().chat_postMessage(**kwargs)
        if crash:
            raise Crash(f"killed after post {self.posts}")
        return response


class ReadOnlyStore(JsonStore):
    """A JSON store that reads but, while ``read_only``, refuses every write (ENOSPC)."""

    read_only = False

    def commit(self, mutation: Mutation[T]) -> T:
        """Refuse while read-only, as a full disk does; commit normally otherwise."""
        if self.read_only:
            cause = OSError(errno.ENOSPC, "No space left on device")
            raise StoreError(f"cannot write to {self.data_dir}: {cause}") from cause
        return super().commit(mutation)


class HeldBeats(PostgresLeadership):
    """A PostgreSQL leadership whose beats, once ``holding``, wait at a gate.

    ``arrived`` is set when a held beat reaches the gate; ``release`` lets every beat
    through from then on.
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.holding = False
        self.arrived = threading.Event()
        self.release = threading.Event()

    def query(self, sql: str) -> bool:
        """Wait at the gate while holding and not released, then run the beat's query."""
        if self.holding and not self.release.is_set():
            self.arrived.set()
            self.release.wait(10)
        return super().query(sql)
