"""Whether writes to the store work, and why not, in words a person can act on.

The status service records the outcome of every commit in a :class:`WriteHealth`,
whatever the store (JSON files or PostgreSQL): while writes fail, ``/api/v1/health``
fails its store check, and the next successful write clears it by itself. Slack
replies to a failed write use :func:`nothing_saved` to say that nothing changed and why.
"""

from __future__ import annotations

import errno
import threading
from datetime import datetime

from bot.errors import StoreError
from bot.model import format_time, utcnow

_REASONS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EIO: "disk input/output error",
}


def failure_reason(exc: BaseException) -> str:
    """A short reason for a store failure: ``disk full``, ``lock timeout``, …

    A :class:`StoreError` may carry its own ``reason``; otherwise the first operating
    system error in the cause chain is named. Paths and connection details are left out.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        reason = getattr(current, "reason", None)
        if isinstance(current, StoreError) and reason:
            return str(reason)
        if isinstance(current, OSError) and current.errno is not None:
            return _REASONS.get(current.errno) or (current.strerror or "system error").lower()
        current = current.__cause__ or current.__context__
    return "the store could not be written"


def nothing_saved(exc: BaseException) -> str:
    """The plain answer to a write that failed: nothing changed, why, and what to do."""
    return (
        f"Nothing was saved: the store is unavailable ({failure_reason(exc)}). "
        "No status was changed; please try again in a moment."
    )


class WriteHealth:
    """The outcome of the latest write: ok, or failing since when and why (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failing_since: datetime | None = None
        self._reason = ""

    def failed(self, exc: BaseException, now: datetime | None = None) -> None:
        """Record a failed write (the first failure of a run keeps its time)."""
        with self._lock:
            if self._failing_since is None:
                self._failing_since = now or utcnow()
            self._reason = failure_reason(exc)

    def succeeded(self) -> None:
        """Record a durable write: writes work again."""
        with self._lock:
            self._failing_since = None
            self._reason = ""

    @property
    def failure(self) -> str | None:
        """None while writes work; otherwise since when and why they fail."""
        with self._lock:
            if self._failing_since is None:
                return None
            return f"writes failing since {format_time(self._failing_since)}: {self._reason}"
