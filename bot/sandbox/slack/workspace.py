"""The emulated workspace's memory: directory, messages, calls, response URLs, one lock.

Every store here is guarded by ``Workspace.lock``; ``changed`` is notified after each
change so the sandbox can wait for "the app did X" with a bounded timeout.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.sandbox.slack.canvases import CanvasStore
from bot.sandbox.slack.channels import CHANNEL_ID, USER_ID, ChannelDirectory
from bot.sandbox.slack.files import FileStore
from bot.sandbox.slack.records import Call, Identity, PostedMessage, ResponsePost, User
from bot.sandbox.slack.triggers import TriggerStore
from bot.sandbox.slack.views import ViewStore

T = TypeVar("T")

__all__ = ["CHANNEL_ID", "CONNECTIONS_WRITE", "USER_ID", "Workspace"]

# The scope an app-level token needs to open Socket Mode connections.
CONNECTIONS_WRITE = "connections:write"
# Slack lets a response_url be used five times within thirty minutes.
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60.0


@dataclass
class _ResponseUrl:
    issued_at: float
    uses: int = 0


class Workspace:
    """Directory, stores and records of the emulated Slack workspace."""

    def __init__(
        self, identity: Identity, clock: Callable[[], float], trigger_ttl: float = 3.0
    ) -> None:
        self.identity = identity
        self.clock = clock
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.views = ViewStore(identity)
        self.canvases = CanvasStore()
        self.files = FileStore()
        self.triggers = TriggerStore(clock, trigger_ttl)
        self.users: dict[str, User] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.channels = ChannelDirectory()
        self.app_token_scopes: frozenset[str] = frozenset({CONNECTIONS_WRITE})
        self.messages: list[PostedMessage] = []
        self.calls: list[Call] = []
        self.responses: list[ResponsePost] = []
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._ts_counter = 0

    def user(self, user_id: str) -> User:
        """The member ``user_id``: configured, or a plausible one for any well-formed id."""
        with self.lock:
            known = self.users.get(user_id)
        if known is not None:
            return known
        if not USER_ID.match(user_id):
            raise KeyError(user_id)
        name = user_id.lower()
        return User(user_id, name=name, real_name=f"Sandbox {user_id}")

    def channel_name(self, channel_id: str) -> str:
        """A channel's name (``general`` unless configured)."""
        with self.lock:
            return self.channels.name(channel_id)

    def next_ts(self) -> str:
        """A message timestamp unique within this workspace."""
        with self.lock:
            self._ts_counter += 1
            return f"{int(time.time())}.{self._ts_counter:06d}"

    def record_call(self, call: Call) -> None:
        """Remember one Web API call and wake up waiters."""
        with self.changed:
            self.calls.append(call)
            self.changed.notify_all()

    def add_message(self, message: PostedMessage) -> None:
        """Remember a posted message and wake up waiters."""
        with self.changed:
            self.messages.append(message)
            self.changed.notify_all()

    def replace_message(self, message: PostedMessage) -> None:
        """Store the new version of an updated message."""
        with self.changed:
            for index, old in enumerate(self.messages):
                if (old.channel, old.ts, old.ephemeral) == (message.channel, message.ts, False):
                    self.messages[index] = message
            self.changed.notify_all()

    def find_message(self, channel: str, ts: str) -> PostedMessage | None:
        """A non-ephemeral message by channel and ts."""
        with self.lock:
            for message in self.messages:
                if (message.channel, message.ts, message.ephemeral) == (channel, ts, False):
                    return message
        return None

    def issue_response_url(self, base_url: str) -> str:
        """A fresh ``response_url`` served by the sandbox's HTTP server."""
        token = secrets.token_urlsafe(12)
        with self.lock:
            self._response_urls[token] = _ResponseUrl(self.clock())
        return f"{base_url}/response/{self.identity.team_id}/{token}"

    def use_response_url(self, token: str) -> str | None:
        """Count one use of a response_url; the reason it is refused, or None."""
        with self.lock:
            entry = self._response_urls.get(token)
            if entry is None:
                return "invalid_url"
            if self.clock() - entry.issued_at > RESPONSE_URL_TTL:
                return "expired_url"
            if entry.uses >= RESPONSE_URL_USES:
                return "used_url"
            entry.uses += 1
            return None

    def record_response(self, post: ResponsePost) -> None:
        """Remember one response_url post and wake up waiters."""
        with self.changed:
            self.responses.append(post)
            self.changed.notify_all()

    def notify(self) -> None:
        """Wake up everyone waiting for a change."""
        with self.changed:
            self.changed.notify_all()

    def wait_for(self, probe: Callable[[], T | None], timeout: float, what: str) -> T:
        """Wait until ``probe`` returns something, at most ``timeout`` seconds."""
        with self.changed:
            found = self.changed.wait_for(probe, timeout)
        if found is None or found is False:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        return found
