"""The store interface the status service talks to.

A store keeps one board (records keyed by ``(app, domain)`` plus a small ``meta``
mapping for the canvas, subscriptions and other bookkeeping) and an append-only
history. Changes are applied with :meth:`Store.commit`, which returns only once the
change is durable. A second implementation (PostgreSQL, say) only has to honour this
interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from bot.model import RecordKey

JsonDict = dict[str, Any]
T = TypeVar("T")


class BoardState(NamedTuple):
    """A consistent, read-only snapshot of the board at ``version``.

    Records and meta values are plain JSON values; treat them as immutable.
    """

    version: int
    records: Mapping[RecordKey, JsonDict]
    meta: Mapping[str, Any]

    @classmethod
    def empty(cls, version: int = 0) -> BoardState:
        """A board with no records."""
        return cls(version, MappingProxyType({}), MappingProxyType({}))


class WorkingState:
    """The state a mutation edits inside a commit.

    Mutations replace record dicts and meta values; they never edit a value they
    read in place, so snapshots handed to readers stay unchanged. A mutation that
    raises is rolled back, so nothing it changed is written.
    """

    __slots__ = ("dirty", "history", "meta", "records", "version")

    def __init__(
        self, version: int, records: dict[RecordKey, JsonDict], meta: dict[str, Any]
    ) -> None:
        self.version = version
        self.records = records
        self.meta = meta
        self.history: list[JsonDict] = []
        self.dirty = False

    def put_record(self, key: RecordKey, record: JsonDict) -> None:
        """Replace the record at ``key``."""
        self.records[key] = record
        self.dirty = True

    def put_meta(self, name: str, value: Any) -> None:
        """Replace one meta value (a JSON value)."""
        self.meta[name] = value
        self.dirty = True

    def add_history(self, entry: JsonDict) -> None:
        """Append one history entry to this commit."""
        self.history.append(entry)
        self.dirty = True

    def checkpoint(self) -> Checkpoint:
        """Remember the current state, to undo a mutation that fails half-way."""
        return Checkpoint(dict(self.records), dict(self.meta), len(self.history), self.dirty)

    def rollback(self, checkpoint: Checkpoint) -> None:
        """Undo everything since ``checkpoint``."""
        self.records = checkpoint.records
        self.meta = checkpoint.meta
        del self.history[checkpoint.history_length :]
        self.dirty = checkpoint.dirty


class Checkpoint(NamedTuple):
    """What :meth:`WorkingState.rollback` restores."""

    records: dict[RecordKey, JsonDict]
    meta: dict[str, Any]
    history_length: int
    dirty: bool


Mutation = Callable[[WorkingState], T]


class Store(ABC):
    """Durable storage of the board and its history."""

    @abstractmethod
    def snapshot(self) -> BoardState:
        """Return the latest durable board."""

    @abstractmethod
    def commit(self, mutation: Mutation[T]) -> T:
        """Apply ``mutation`` under the store's lock and return its result once durable.

        A mutation that raises must raise before changing the working state; its
        exception propagates and nothing is written for it. A store may run a mutation
        again on a newer board (PostgreSQL does when another process committed first):
        only the last run counts, so a mutation changes nothing but the working state.
        """

    @abstractmethod
    def history(
        self, app: str | None = None, domain: str | None = None, limit: int | None = None
    ) -> list[JsonDict]:
        """Return history entries, oldest first, optionally filtered, the last ``limit``."""

    @abstractmethod
    def iter_history(self) -> Iterator[JsonDict]:
        """Yield every history entry, oldest first, reading as a stream.

        Memory stays flat however long the history is (exports and the change-log
        reader use this). Entries carry the board ``version`` of the commit that made
        them; the entries of one commit share it and keep their order.
        """

    @abstractmethod
    def iter_history_after(self, version: int) -> Iterator[JsonDict]:
        """Yield the entries of commits after board ``version``, oldest first.

        The change-log reader (alerts) calls this every tick: a store skips the old part
        of the history instead of reading it all.
        """

    def now(self) -> datetime:
        """The store's clock (aware, UTC), shared by every process that uses this store.

        Times that several processes compare (job start reservations) come from here.
        A file store lives on one host, so that host's clock serves; a database store
        overrides this with the database's clock.
        """
        return datetime.now(UTC)

    @abstractmethod
    def backup(self, keep: int = 24) -> Path | None:
        """Write a backup copy of the state, keeping the newest ``keep``."""

    @abstractmethod
    def close(self) -> None:
        """Release files and locks."""
