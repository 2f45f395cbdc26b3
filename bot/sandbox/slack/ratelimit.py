"""Slack's per-method rate-limit tiers, counted in a sliding window per method and token.

Slack publishes minimum rates ("Tier 2: 20+ per minute"). The sandbox admits exactly that
many calls per window so an app that stays within the published numbers is never limited,
with two documented exceptions: Tier 1 tolerates a small burst (Socket Mode reconnects call
``apps.connections.open`` several times a minute), and ``chat.postMessage`` is limited per
channel (about one message per second, i.e. 60 per minute per channel).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable

TIER_1 = 5  # "1+ per minute"; small bursts are tolerated
TIER_2 = 20
TIER_3 = 50
TIER_4 = 100
POST_MESSAGE_PER_CHANNEL = 60  # "1 per second per channel"
AUTH_TEST = 1200  # "special": high enough never to bite a well-behaved app

METHOD_LIMITS: dict[str, int] = {
    "auth.test": AUTH_TEST,
    "apps.connections.open": TIER_1,
    "chat.postMessage": POST_MESSAGE_PER_CHANNEL,
    "chat.postEphemeral": TIER_4,
    "chat.update": TIER_3,
    "views.open": TIER_4,
    "views.update": TIER_4,
    "views.push": TIER_4,
    "views.publish": TIER_4,
    "canvases.create": TIER_2,
    "canvases.edit": TIER_3,
    "canvases.sections.lookup": TIER_3,
    "canvases.delete": TIER_3,
    "conversations.canvases.create": TIER_2,
    "conversations.info": TIER_3,
    "users.info": TIER_4,
    "usergroups.users.list": TIER_2,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    "conversations.open": TIER_3,
}

PER_CHANNEL_METHODS = frozenset({"chat.postMessage"})


class RateLimiter:
    """Sliding-window counter of admitted calls per (method, token[, channel])."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        enabled: bool = True,
        rate_scale: float = 1.0,
        window_seconds: float = 60.0,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, ...], deque[float]] = {}
        self.enabled = enabled
        self.rate_scale = rate_scale
        self.window_seconds = window_seconds

    def configure(
        self,
        *,
        enabled: bool | None = None,
        rate_scale: float | None = None,
        window_seconds: float | None = None,
    ) -> None:
        """Change the knobs and forget every counted call."""
        with self._lock:
            if enabled is not None:
                self.enabled = enabled
            if rate_scale is not None:
                if rate_scale <= 0:
                    raise ValueError("rate_scale must be positive")
                self.rate_scale = rate_scale
            if window_seconds is not None:
                if window_seconds <= 0:
                    raise ValueError("window_seconds must be positive")
                self.window_seconds = window_seconds
            self._hits.clear()

    def limit_for(self, method: str) -> int:
        """How many calls of ``method`` one token may make per window."""
        scaled = METHOD_LIMITS.get(method, TIER_3) * self.rate_scale
        return max(1, math.floor(scaled + 1e-9))  # 60 * (2 / 60) is 2, not 1.999...

    def admit(self, method: str, token: str, channel: str | None = None) -> int | None:
        """Count the call and return None, or return the whole seconds to wait when over."""
        if not self.enabled:
            return None
        key: tuple[str, ...] = (method, token)
        if method in PER_CHANNEL_METHODS:
            key = (*key, channel or "")
        with self._lock:
            now = self._clock()
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window_seconds:
                hits.popleft()
            if len(hits) >= self.limit_for(method):
                return max(1, math.ceil(hits[0] + self.window_seconds - now))
            hits.append(now)
            return None
