"""The request log of the EPM sandbox, for assertions on what clients sent and when."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

AuthType = Literal["basic", "bearer", "none", "other"]


@dataclass(frozen=True)
class RequestRecord:
    """One served request: `time.monotonic()` from reading it to having its answer ready.

    `status` 0 means the connection was dropped without an answer.
    """

    method: str
    path: str
    status: int
    auth: AuthType
    started: float
    ended: float
    job_id: str | None = None
    injected: bool = False
    grant_type: str | None = None
    delay: float = 0.0  # the latency the sandbox added (set_latency)

    @property
    def duration(self) -> float:
        """Seconds between reading the request and having its answer ready."""
        return self.ended - self.started


class RequestLog:
    """Thread-safe, append-only list of served requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._in_flight = 0

    def begin(self) -> None:
        """Note that a request has started being served."""
        with self._lock:
            self._in_flight += 1

    def append(self, record: RequestRecord) -> None:
        """Add one served request (and end the in-flight count `begin` started)."""
        with self._lock:
            self._records.append(record)
            self._in_flight -= 1

    def in_flight(self) -> int:
        """Return how many requests are being served right now."""
        with self._lock:
            return self._in_flight

    def records(self, path_prefix: str | None = None) -> list[RequestRecord]:
        """Return the requests so far (under `path_prefix` if given), oldest first."""
        with self._lock:
            records = list(self._records)
        if path_prefix is None:
            return records
        return [r for r in records if r.path.startswith(path_prefix)]

    def max_concurrency(self, path_prefix: str | None = None) -> int:
        """Return the largest number of requests that were in flight at the same moment."""
        events: list[tuple[float, int]] = []
        for record in self.records(path_prefix):
            events.append((record.started, 1))
            events.append((record.ended, -1))
        # At equal times an end sorts before a start: touching intervals do not overlap.
        events.sort()
        peak = current = 0
        for _, step in events:
            current += step
            peak = max(peak, current)
        return peak

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._records.clear()
