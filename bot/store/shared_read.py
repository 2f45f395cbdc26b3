"""Shared reads: threads that ask for the latest board at once share one query.

The PostgreSQL store answers every :meth:`~bot.store.Store.snapshot` with a query, so
that it sees what other instances committed. Under load many threads ask at once (each
REST write answers with the board it changed). They queue as commits do, in a
:class:`~bot.store.commit_queue.GroupCommit` (a read is a request that changes nothing);
whichever thread gets the lock runs one query for everyone queued so far. That query
starts after each of them asked, so each still gets a board at least as new as every
commit that ended before its call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar, cast

from bot.store.base import WorkingState
from bot.store.commit_queue import GroupCommit, Pending, settle

T = TypeVar("T")


class SharedRead(Generic[T]):
    """Runs ``read`` once for all the threads that called :meth:`get` while it waited."""

    def __init__(self, read: Callable[[], T]) -> None:
        self._read = read
        self._queue = GroupCommit()

    @property
    def queued(self) -> int:
        """How many calls wait for the next read."""
        return self._queue.queued

    def get(self) -> T:
        """The result of a read that started after this call; its error, if it failed."""
        return cast(T, self._queue.submit(_read_request, self._read_once))

    def _read_once(self, batch: list[Pending]) -> None:
        failure: BaseException | None = None
        try:
            result = self._read()
        except BaseException as exc:  # noqa: BLE001 - re-raised in each caller's thread
            failure = exc
        else:
            for pending in batch:
                pending.result = result
        settle(batch, failure)


def _read_request(work: WorkingState) -> None:
    """A queued read's entry in the group commit's queue: it changes nothing, and never runs."""
