"""Per-key rate limits (SPEC §7), counted by the ``limits`` library in a moving window.

Three groups: ``status`` (POST /status, 60/min), ``batch`` (POST /status/batch,
20/min) and ``read`` (every GET that needs a key, 100/min). Each key has its own
window per group. The storage is in memory by default; a ``limits`` storage URI
(``redis://…``, ``memcached://…``) shares the windows between instances.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool

# The settings' parsing lives outside bot.api so that configuration can be validated
# without loading the API; re-exported here, where the API's users import them from.
from bot.ratelimit_settings import (
    DEFAULT_LIMITS,
    DEFAULT_STORAGE,
    GROUPS,
    RateLimits,
    open_storage,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_STORAGE",
    "GROUPS",
    "Decision",
    "RateLimiter",
    "RateLimits",
    "open_storage",
]


@dataclass(frozen=True)
class Decision:
    """Whether one request fits its key's window, and the window's state afterwards."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float

    def headers(self, now: float | None = None) -> dict[str, str]:
        """``X-RateLimit-*`` headers, plus ``Retry-After`` when the request was refused."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after(now))
        return headers

    def retry_after(self, now: float | None = None) -> int:
        """Whole seconds until the window has room again (at least 1)."""
        wait = self.reset_at - (time.time() if now is None else now)
        return max(1, math.ceil(wait))


class RateLimiter:
    """Counts requests per key and group in a moving window."""

    def __init__(self, limits: RateLimits, storage_uri: str = DEFAULT_STORAGE) -> None:
        """Raises ValueError when ``storage_uri`` is not a usable synchronous ``limits`` storage."""
        self.limits = limits
        self.storage = open_storage(storage_uri)
        self._limiter = MovingWindowRateLimiter(self.storage)
        # A network storage must not block the event loop; memory is fast enough inline.
        self._inline = isinstance(self.storage, MemoryStorage)

    def hit_now(self, group: str, key_name: str) -> Decision:
        """Count one request of ``key_name`` in ``group`` and say whether it fits."""
        item = self.limits.items[group]
        allowed = self._limiter.hit(item, key_name, group)
        stats = self._limiter.get_window_stats(item, key_name, group)
        return Decision(allowed, item.amount, max(0, stats.remaining), stats.reset_time)

    async def hit(self, group: str, key_name: str) -> Decision:
        """:meth:`hit_now` without blocking the event loop on a network storage."""
        if self._inline:
            return self.hit_now(group, key_name)
        call: Callable[[str, str], Decision] = self.hit_now
        return await run_in_threadpool(call, group, key_name)
