"""Scripted misbehaviour: the next N calls of a method are slow, refused or broken."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from bot.sandbox.serving import Gate


@dataclass(frozen=True)
class Fault:
    """What to do to one call: wait ``delay`` seconds (or at ``gate``), then answer.

    ``status`` None (or 200 without ``error``) means "answer normally after the delay".
    429 answers ``ratelimited`` with ``Retry-After: retry_after``; another status answers
    ``{"ok": false, "error": error or "internal_error"}`` with that status.
    """

    status: int | None = 429
    retry_after: int = 1
    delay: float = 0.0
    error: str | None = None
    gate: Gate | None = None

    @property
    def answers(self) -> bool:
        """True when the fault replaces the real answer."""
        return self.error is not None or (self.status is not None and self.status != 200)


class FaultPlan:
    """Per-method queues of faults, consumed one per call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Fault]] = {}

    def add(self, method: str, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` calls of ``method``."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._queues.setdefault(method, deque()).extend([fault] * times)

    def take(self, method: str) -> Fault | None:
        """The fault for this call of ``method``, if one is scripted."""
        with self._lock:
            queue = self._queues.get(method)
            return queue.popleft() if queue else None

    def pending(self, method: str) -> int:
        """How many scripted faults still wait for ``method``."""
        with self._lock:
            return len(self._queues.get(method, ()))

    def clear(self) -> None:
        """Drop every scripted fault."""
        with self._lock:
            self._queues.clear()
