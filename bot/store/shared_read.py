"""Shared reads: threads that ask for the latest board at once share one query.

The PostgreSQL store answers every :meth:`~bot.store.Store.snapshot` with a query, so
that it sees what other instances committed. Under load many threads ask at once (each
REST write answers with the board it changed). Like commits (see
:mod:`bot.store.commit_queue`), they queue; whichever thread gets the read lock runs one
query for everyone queued so far. That query starts after each of them asked, so each
still gets a board at least as new as every commit that ended before its call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class _Waiter(Generic[T]):
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class SharedRead(Generic[T]):
    """Runs ``read`` once for all the threads that called :meth:`get` while it waited."""

    def __init__(self, read: Callable[[], T]) -> None:
        self._read = read
        self._lock = threading.Lock()  # held while a read runs
        self._queue: list[_Waiter[T]] = []
        self._queue_lock = threading.Lock()

    @property
    def queued(self) -> int:
        """How many calls wait for the next read."""
        with self._queue_lock:
            return len(self._queue)

    def get(self) -> T:
        """The result of a read that started after this call; its error, if it failed."""
        waiter: _Waiter[T] = _Waiter()
        with self._queue_lock:
            self._queue.append(waiter)
        with self._lock:
            if not waiter.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    result = self._read()
                except BaseException as exc:
                    for queued in batch:
                        queued.error, queued.done = exc, True
                    raise
                for queued in batch:
                    queued.result, queued.done = result, True
        if waiter.error is not None:
            raise waiter.error
        return cast(T, waiter.result)
