"""Round trips of the PostgreSQL store, counted on the wire (issue 25).

A durable ``set`` is one statement, so one round trip, while no other process writes.
When another one does, a commit takes the lock before it reads (two round trips), and
goes back to one statement once it finds that nobody else wrote. These are counts, not
timings: a statement added to the commit path fails these tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.estate import Estate
from bot.service import StatusService
from bot.store.postgres import PostgresStore
from bot.store.roundtrips import RoundTrips, count_round_trips

# psycopg prepares a statement at its fifth use on a connection, with one round trip
# more that one time: the counts below are taken after it.
WARM_UP = 6


@pytest.fixture
def stores(pg_url: str) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one schema, as two instances (or processes) have."""
    first, second = PostgresStore(pg_url), PostgresStore(pg_url)
    yield first, second
    first.close()
    second.close()


def _sets(service: StatusService, count: int, message: str = "set") -> None:
    for n in range(count):
        service.set("Planning", "Actuals", "OK" if n % 2 else "Loading", message, by="api:test")


def _round_trips(store: PostgresStore, service: StatusService, count: int = 1) -> int:
    with RoundTrips(store) as counted:
        _sets(service, count)
    return counted.count


def test_a_durable_set_takes_one_round_trip(stores: tuple[PostgresStore, PostgresStore]) -> None:
    """Ten sets of one writer, ten round trips: no check, lock or read of their own."""
    store, _ = stores
    service = StatusService(Estate().layout, store)
    _sets(service, WARM_UP)
    assert _round_trips(store, service, 10) == 10
    assert store.history()[-1]["message"] == "set"


def test_a_snapshot_takes_one_round_trip(stores: tuple[PostgresStore, PostgresStore]) -> None:
    """Reading the latest board is one query, the pool lending its connection for free."""
    store, _ = stores
    for _ in range(WARM_UP):
        store.snapshot()
    with RoundTrips(store) as counted:
        store.snapshot()
    assert counted.count == 1


def test_a_set_after_another_writer_locks_first_until_it_writes_alone(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    """3 round trips when another store wrote unseen, 2 while it keeps writing, then 1.

    The first set finds the board moved (1) and commits under the lock (2 more); the
    next ones lock first; once a locked commit finds nobody else wrote, one statement.
    """
    mine, other = stores
    service, others = StatusService(Estate().layout, mine), StatusService(Estate().layout, other)
    _sets(service, WARM_UP)
    counts = []
    for other_writes in (True, True, False, False):
        if other_writes:
            _sets(others, 1, "other")
        counts.append(_round_trips(mine, service))
    assert counts == [3, 2, 2, 1]
    messages = [e["message"] for e in mine.history(limit=6)]
    assert messages == ["other", "set", "other", "set", "set", "set"]


def test_round_trips_are_runs_of_messages_sent() -> None:
    """Each switch from receiving to sending starts a round trip; text between is skipped."""
    trace = [
        'F\t5\tQuery\t ""',
        "B\t4\tEmptyQueryResponse",
        "B\t5\tReadyForQuery\t I",
        'F\t85\tParse\t "" "SELECT',
        "  1",
        'F\t4\tSync"',
        "B\t4\tParseComplete",
        "F\t4\tSync",
    ]
    assert count_round_trips(trace) == 3
    assert count_round_trips([]) == 0
