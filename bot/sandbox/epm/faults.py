"""Latency and injected failures of the EPM sandbox, matched by URL path prefix."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from bot.sandbox.serving import Gate


@dataclass
class Fault:
    """A failure served to the next `times` requests whose path starts with `path_prefix`.

    With a ``gate`` the request is first held there; ``status`` None then answers normally.
    """

    path_prefix: str
    status: int | None  # 0 means: drop the connection without answering
    times: int
    retry_after: int | None = None
    gate: Gate | None = None


class Faults:
    """Thread-safe table of per-prefix latency and pending injected failures."""

    def __init__(self, latency: float) -> None:
        self._lock = threading.Lock()
        self._latency: dict[str | None, float] = {None: latency}
        self._faults: list[Fault] = []

    def set_latency(self, seconds: float, path_prefix: str | None = None) -> None:
        """Set the delay before answering: globally, or for paths under `path_prefix`."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            self._latency[path_prefix] = seconds

    def latency_for(self, path: str) -> float:
        """Return the delay for `path`: the longest matching prefix wins over the global one."""
        with self._lock:
            prefixes = [p for p in self._latency if p is not None and path.startswith(p)]
            return self._latency[max(prefixes, key=len) if prefixes else None]

    def add(self, fault: Fault) -> None:
        """Queue a failure; failures for overlapping prefixes are served in order added."""
        if fault.times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.append(fault)

    def take(self, path: str) -> Fault | None:
        """Consume one use of the first failure matching `path`, if any."""
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path_prefix):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def clear(self) -> None:
        """Forget every pending failure and per-prefix latency (the global latency stays)."""
        with self._lock:
            self._faults.clear()
            self._latency = {None: self._latency[None]}
