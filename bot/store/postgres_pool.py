"""The PostgreSQL store's connections: a psycopg pool that gets past an outage fast (SPEC §15).

A connection the server dropped is replaced instead of failing a request, and a lost one
is retried for seconds only, so the first request after an outage reaches the database.
"""

from __future__ import annotations

import contextlib
import selectors
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.database import reason
from bot.errors import StoreError

POOL_MAX_SIZE = 8
POOL_TIMEOUT_SECONDS = 10.0
# How long the pool retries a lost connection (backing off 1, 2, 4 s…) before giving up;
# the next request then starts a fresh attempt at once. psycopg_pool's default, 300 s,
# let the back-off grow past a minute: after a 130 s outage the first attempt to reach
# the database came 101 s after it was back. A few seconds keep the next attempt close
# (SPEC §15: the first request after an outage succeeds within 15 s; bench/outage.py).
RECONNECT_TIMEOUT_SECONDS = 5.0
LOCK_TIMEOUT = "30s"  # a commit waiting longer for the board answers STORE_UNAVAILABLE
STATEMENT_TIMEOUT = "60s"


def open_pool(conninfo: str, label: str, *, max_size: int = POOL_MAX_SIZE) -> ConnectionPool:
    """An open pool of autocommit connections to ``conninfo`` (``label`` names it in errors).

    StoreError, with the server's reason, when the database cannot be reached.
    """
    pool: ConnectionPool = ConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        open=False,
        kwargs={"autocommit": True},
        configure=_configure,
        check=lambda conn: _check_connection(pool, conn),
        timeout=POOL_TIMEOUT_SECONDS,
        reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
        name="epmpulse",
    )
    try:
        # One direct attempt first: a refused connection fails at once, with its reason.
        psycopg.connect(conninfo, autocommit=True).close()
        pool.open(wait=True, timeout=POOL_TIMEOUT_SECONDS)
    except (psycopg.Error, PoolTimeout) as exc:
        pool.close()
        raise StoreError(f"cannot connect to the database {label}: {reason(exc)}") from exc
    return pool


@contextmanager
def pipelined_transaction(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """One pipelined transaction on an autocommit connection: BEGIN … COMMIT.

    BEGIN and COMMIT are sent by hand, in the pipeline with the statements around them,
    rather than with ``conn.transaction()``, which costs a round trip more. On any
    failure the transaction is rolled back; a broken connection is left to the pool.
    """
    try:
        with conn.pipeline():
            conn.execute("BEGIN")
            yield
            conn.execute("COMMIT")
    except BaseException:
        if not conn.closed:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
        raise


def _check_connection(pool: ConnectionPool, conn: psycopg.Connection[Any]) -> None:
    """The pool's check before lending ``conn``; a dead one gets every idle one checked.

    An idle connection receives nothing unless the server is ending it: a terminated
    backend, a restart or a cut link leaves an error message or end-of-file to read.
    So a connection with nothing to read is lent at once, without the round trip of
    psycopg_pool's own check (an empty query), which this runs only on one that has
    something waiting. A dead connection usually means the server went away, and then
    every idle connection is dead too. The pool would try them one at a time, pausing
    longer after each (1, 2, 4 s…), and could time out before reaching a live one; its
    own ``check()`` replaces them all at once instead.
    """
    if not _has_input(conn):
        return
    try:
        ConnectionPool.check_connection(conn)
    except psycopg.Error:
        pool.check()
        raise


def _has_input(conn: psycopg.Connection[Any]) -> bool:
    """Whether the server sent ``conn`` anything (or closed it) while it sat idle."""
    if conn.closed:
        return True
    with selectors.DefaultSelector() as selector:
        selector.register(conn.fileno(), selectors.EVENT_READ)
        return bool(selector.select(timeout=0))


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    conn.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")
