"""Group commit: threads of one process share one durable write.

Each :meth:`GroupCommit.submit` queues its mutation; whichever thread gets the commit
lock takes the whole queue and runs it as one batch (one lock, one write, one fsync).
The others find their mutation already done and return its result or raise its error,
in their own thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from bot.store.base import Mutation, WorkingState

T = TypeVar("T")


class Pending:
    """One queued mutation and, once its batch ran, its result or error."""

    __slots__ = ("done", "error", "mutation", "result")

    def __init__(self, mutation: Mutation[Any]) -> None:
        self.mutation = mutation
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class GroupCommit:
    """The queue of mutations and the lock that makes one thread commit them all."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held while a batch runs; also guards other writers
        self._queue: list[Pending] = []
        self._queue_lock = threading.Lock()

    @property
    def queued(self) -> int:
        """How many mutations wait for the next batch."""
        with self._queue_lock:
            return len(self._queue)

    def submit(self, mutation: Mutation[T], run_batch: Callable[[list[Pending]], None]) -> T:
        """Run ``mutation`` in the next batch; return its result or raise its error.

        ``run_batch`` must mark every pending of the batch done, with a result or error.
        """
        pending = Pending(mutation)
        with self._queue_lock:
            self._queue.append(pending)
        with self.lock:
            if not pending.done.is_set():
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                run_batch(batch)
        if pending.error is not None:
            raise pending.error
        result: T = pending.result
        return result


def apply_batch(work: WorkingState, batch: list[Pending]) -> None:
    """Run each mutation of ``batch`` on ``work``; one that raises is undone alone."""
    for pending in batch:
        checkpoint = work.checkpoint()
        try:
            pending.result = pending.mutation(work)
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
            work.rollback(checkpoint)
            pending.error = exc


def settle(batch: list[Pending], failure: BaseException | None) -> None:
    """Mark every pending of ``batch`` done; on ``failure`` each fails with it."""
    for pending in batch:
        if failure is not None and pending.error is None:
            pending.error = failure
        pending.done.set()
