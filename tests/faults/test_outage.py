"""After a database outage, the first request succeeds again (SPEC §15 "After an outage").

The store reaches PostgreSQL through a loopback TCP proxy that can cut every connection
and refuse new ones, as a server that went down does, and then let them through again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bot.database import CONNECT_TIMEOUT_SECONDS
from bot.errors import StoreError
from bot.store.base import Mutation, WorkingState
from bot.store.postgres import PostgresStore
from bot.store.postgres_pool import POOL_MAX_SIZE, RECONNECT_TIMEOUT_SECONDS
from tests.conftest import POSTGRES_URL
from tests.faults.tcpproxy import TcpProxy

# SPEC §15: the first request after the database is back succeeds within this.
RECOVERY_GOAL_SECONDS = 15.0


def mark(value: int) -> Mutation[None]:
    """A mutation setting one meta value."""

    def mutate(work: WorkingState) -> None:
        work.put_meta("outage.mark", value)

    return mutate


@pytest.fixture
def proxy(pg_url: str) -> Iterator[TcpProxy]:
    """A proxy to the test server, stopped after the test."""
    params = conninfo_to_dict(POSTGRES_URL)
    target = (str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    with TcpProxy(target, lifetime=120) as running:
        yield running


@pytest.fixture
def store(pg_url: str, proxy: TcpProxy) -> Iterator[PostgresStore]:
    """A PostgreSQL store (in the test's own schema) that reaches the server via ``proxy``."""
    opened = PostgresStore(make_conninfo(pg_url, host="127.0.0.1", port=proxy.port))
    yield opened
    opened.close()


@pytest.mark.slow  # the failed commit waits for the pool timeout (10 s)
def test_a_commit_fails_while_the_database_is_away_and_the_next_succeeds_once_back(
    store: PostgresStore, proxy: TcpProxy
) -> None:
    """During the outage a commit raises StoreError; after it, the next commit is stored."""
    store.commit(mark(1))
    proxy.cut()
    with pytest.raises(StoreError):
        store.commit(mark(2))
    proxy.restore()
    store.commit(mark(3))
    assert store.snapshot().meta["outage.mark"] == 3


def test_a_pool_full_of_dead_connections_serves_the_first_request_after_the_outage(
    store: PostgresStore, proxy: TcpProxy
) -> None:
    """Every pooled connection cut at once: the first commit after the return succeeds.

    The pool would otherwise try its dead connections one at a time, pausing longer
    after each, and time out before it reached a live one.
    """
    with ExitStack() as held:  # fill the pool: every connection in use at once
        for _ in range(POOL_MAX_SIZE):
            held.enter_context(store._pool.connection())
    proxy.cut()
    proxy.restore()
    store.commit(mark(4))
    assert store.snapshot().meta["outage.mark"] == 4


def test_the_pool_gives_up_a_lost_connection_after_seconds_not_minutes(
    store: PostgresStore,
) -> None:
    """A lost connection is retried for seconds, so the next request soon tries afresh.

    psycopg_pool's default (300 s) let its back-off grow past a minute: the database
    could be back for over 100 s before the pool tried it again.
    """
    assert store._pool.reconnect_timeout == RECONNECT_TIMEOUT_SECONDS
    # The last retry of a give-up window plus one connection attempt fit in the goal.
    assert RECONNECT_TIMEOUT_SECONDS + CONNECT_TIMEOUT_SECONDS < RECOVERY_GOAL_SECONDS
