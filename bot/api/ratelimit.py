"""Per-key rate limits (SPEC §7), counted by the ``limits`` library in a moving window.

Three groups: ``status`` (POST /status, 60/min), ``batch`` (POST /status/batch,
20/min) and ``read`` (every GET that needs a key, 100/min). Each key has its own
window per group. The storage is in memory by default; a ``limits`` storage URI
(``redis://…``, ``memcached://…``) shares the windows between instances.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from limits import RateLimitItem, parse
from limits.errors import ConfigurationError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool

GROUPS = ("status", "batch", "read")
DEFAULT_LIMITS = {"status": "60/minute", "batch": "20/minute", "read": "100/minute"}
DEFAULT_STORAGE = "memory://"


@dataclass(frozen=True)
class RateLimits:
    """The limit of each group, e.g. ``RateLimits.parse("status=120/minute")``."""

    items: Mapping[str, RateLimitItem]

    @classmethod
    def default(cls) -> RateLimits:
        """60/min for POST /status, 20/min for batches, 100/min for reads."""
        return cls.parse("")

    @classmethod
    def parse(cls, text: str) -> RateLimits:
        """Parse ``group=limit`` pairs separated by commas; unnamed groups keep their default.

        Raises ValueError naming every problem.
        """
        wanted = dict(DEFAULT_LIMITS)
        problems: list[str] = []
        for pair in filter(None, (p.strip() for p in text.split(","))):
            group, sep, limit = (s.strip() for s in pair.partition("="))
            if not sep or group not in GROUPS:
                problems.append(
                    f"'{pair}' is not GROUP=LIMIT with GROUP one of {', '.join(GROUPS)}"
                )
            else:
                wanted[group] = limit
        items: dict[str, RateLimitItem] = {}
        for group, limit in wanted.items():
            try:
                items[group] = parse(limit)
            except ValueError:
                problems.append(f"{group}: '{limit}' is not a limit like '60/minute'")
        if problems:
            raise ValueError("; ".join(problems))
        return cls(items)

    def describe(self) -> str:
        """The limits in words, e.g. ``status 60 per 1 minute, …``."""
        return ", ".join(f"{group} {item}" for group, item in self.items.items())


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


def open_storage(uri: str) -> Storage:
    """Open the ``limits`` storage at ``uri``; raise ValueError saying what is wrong."""
    scheme = urlparse(uri).scheme
    if scheme.startswith("async+"):
        raise ValueError(f"'{uri}': use the synchronous form ('{scheme[6:]}://…')")
    try:
        storage = storage_from_string(uri)
    except ConfigurationError as exc:
        raise ValueError(f"'{uri}' is not a usable rate-limit storage: {exc}") from exc
    if not isinstance(storage, Storage):
        raise ValueError(f"'{uri}' is not a synchronous rate-limit storage")
    return storage
