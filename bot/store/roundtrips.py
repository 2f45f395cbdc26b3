"""How many round trips a PostgreSQL store's work takes, counted on the wire (issue 25).

libpq can trace every protocol message a connection sends to the server (``F``) and
receives from it (``B``). A round trip is a run of messages sent followed by the answer
the client waits for, so each switch from receiving to sending starts one. The count
comes from the wire, not from the store's code: a statement added anywhere (in the
store, in the pool's check of a connection, in psycopg preparing a statement) shows.

``bench/ha.py`` prints the round trips of a durable ``set``; a test pins the number.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import psycopg

from bot.store.postgres import PostgresStore


class RoundTrips:
    """Counts the round trips of every connection ``store`` borrows inside the block.

    Use it around work that has finished when the block ends: the traces are read then.
    """

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._traced: dict[int, tuple[psycopg.Connection[Any], int, str]] = {}
        self.count = 0

    def __enter__(self) -> RoundTrips:
        self._store.on_lend(self._trace)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._store.on_lend(None)
        with self._lock:
            traced, self._traced = list(self._traced.values()), {}
        for conn, fd, path in traced:
            conn.pgconn.untrace()  # flushes libpq's buffer into the file
            os.close(fd)
            with open(path, encoding="utf-8", errors="replace") as trace:
                self.count += count_round_trips(trace)
            os.unlink(path)

    def _trace(self, conn: psycopg.Connection[Any]) -> None:
        with self._lock:
            if id(conn) in self._traced:
                return
            fd, path = tempfile.mkstemp(prefix="epmpulse-trace-")
            self._traced[id(conn)] = (conn, fd, path)
        conn.pgconn.trace(fd)
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)


def count_round_trips(lines: Iterable[str]) -> int:
    """The round trips in one connection's libpq trace: runs of sent messages."""
    count, sending = 0, False
    for line in lines:
        direction = line[:2]
        if direction == "F\t" and not sending:
            count += 1
        if direction in ("F\t", "B\t"):
            sending = direction == "F\t"
    return count
