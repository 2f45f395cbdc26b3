"""What only the PostgreSQL store does: migrations, failures, reconnects, shared tokens."""

from __future__ import annotations

import threading

import psycopg
import pytest

from bot.epm.tokens import StoredRefreshToken
from bot.errors import StoreError, ValidationError
from bot.service import StatusService
from bot.store import WorkingState
from bot.store.postgres import PostgresStore
from bot.store.postgres_schema import MIGRATIONS, SCHEMA_VERSION
from tests.conftest import MakeConfig


def _record(work: WorkingState, message: str) -> None:
    key = ("Planning", "Actuals")
    work.put_record(key, {"app": key[0], "domain": key[1], "status": "OK", "message": message})
    work.add_history({"app": key[0], "domain": key[1], "new_status": "OK", "message": message})


def test_two_instances_starting_at_once_migrate_once_and_record_the_version(
    pg_url: str,
) -> None:
    """Stores opened concurrently on an empty schema all work; the schema version is kept."""
    opened: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PostgresStore(pg_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert errors == [] and len(opened) == 4
        with psycopg.connect(pg_url) as conn:
            row = conn.execute("SELECT version FROM epmpulse_schema").fetchone()
        assert row == (SCHEMA_VERSION,)
        opened[0].commit(lambda work: _record(work, "one"))
        assert opened[3].snapshot().records[("Planning", "Actuals")]["message"] == "one"
    finally:
        for store in opened:
            store.close()


def test_a_database_with_a_newer_schema_is_refused_clearly(pg_url: str) -> None:
    """A schema from a newer EPMPulse stops start-up with a message saying so."""
    PostgresStore(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE epmpulse_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer than this EPMPulse"):
        PostgresStore(pg_url)


def test_a_database_of_schema_version_1_is_migrated_and_keeps_its_board(pg_url: str) -> None:
    """Version 1 (no commit function) is brought up to date; its records and history stay."""
    with psycopg.connect(pg_url) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute(
            """CREATE TABLE epmpulse_schema (id integer PRIMARY KEY, version integer NOT NULL,
               migrated_at timestamptz NOT NULL DEFAULT now())"""
        )
        conn.execute("INSERT INTO epmpulse_schema (id, version) VALUES (1, 1)")
        conn.execute(
            """INSERT INTO epmpulse_records VALUES ('Planning', 'Actuals',
               '{"app": "Planning", "domain": "Actuals", "message": "kept"}', 1)"""
        )
        conn.execute("""INSERT INTO epmpulse_history VALUES (1, 0, 'Planning', 'Actuals',
               '{"version": 1, "message": "kept"}')""")
        conn.execute("UPDATE epmpulse_board SET version = 1")
    store = PostgresStore(pg_url)
    try:
        assert store.snapshot().records[("Planning", "Actuals")]["message"] == "kept"
        store.commit(lambda work: _record(work, "after"))
        assert [(e["version"], e["message"]) for e in store.history()] == [
            (1, "kept"),
            (2, "after"),
        ]
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT version FROM epmpulse_schema").fetchone() == (2,)
    finally:
        store.close()


def test_a_commit_the_database_refuses_applies_nothing_of_the_batch(pg_url: str) -> None:
    """A value PostgreSQL cannot store fails the whole commit: StoreError, no record written."""
    store = PostgresStore(pg_url)
    try:
        before = store.snapshot().version

        def broken(work: WorkingState) -> None:
            _record(work, "would be lost")
            work.put_meta("bad", "nul \u0000 byte")  # jsonb refuses NUL

        with pytest.raises(StoreError, match=r"the database .* failed: unsupported Unicode"):
            store.commit(broken)
        assert store.snapshot().version == before
        assert store.snapshot().records == {}
        assert store.history() == []
        store.commit(lambda work: _record(work, "after"))
        assert [e["message"] for e in store.history()] == ["after"]
    finally:
        store.close()


def test_connections_cut_by_the_server_are_replaced(pg_url: str) -> None:
    """After pg_terminate_backend of every idle store connection, reads and commits still work.

    The termination is waited for (its timeout argument): the backends have told their
    clients and gone, as after any outage, before the next commit borrows a connection.
    """
    store = PostgresStore(pg_url)
    try:
        store.commit(lambda work: _record(work, "before"))
        with psycopg.connect(pg_url, autocommit=True) as admin:
            cut = admin.execute(
                "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
                "WHERE application_name = 'epmpulse' AND pid <> pg_backend_pid()"
            ).fetchone()
        assert cut is not None and cut[0] >= 1
        store.commit(lambda work: _record(work, "after"))
        assert [e["message"] for e in store.history()] == ["before", "after"]
    finally:
        store.close()


def test_an_unreachable_database_is_a_store_error_without_the_password() -> None:
    """Nothing listens: StoreError naming the host, never the password."""
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/test?connect_timeout=1"
    with pytest.raises(StoreError) as caught:
        PostgresStore(url)
    assert "127.0.0.1" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)


def test_backup_is_left_to_postgresql(pg_url: str) -> None:
    """backup() writes no file on PostgreSQL and returns None; repr hides the password."""
    store = PostgresStore(pg_url)
    try:
        assert store.backup() is None
        assert "password" not in repr(store) and repr(store).startswith("PostgresStore(")
    finally:
        store.close()


def test_a_rotated_refresh_token_is_visible_to_every_instance(pg_url: str) -> None:
    """A token saved through one store is the current token read through another."""
    first, second = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        one = StoredRefreshToken(first, "planning", first.advisory_lock)
        two = StoredRefreshToken(second, "planning", second.advisory_lock)
        assert two.current("configured-token") == "configured-token"
        with one.locked():
            one.save("rotated-1", "configured-token")
        assert two.current("configured-token") == "rotated-1"
        # An operator issuing a new token wins over the stored one.
        assert two.current("new-configured") == "new-configured"
    finally:
        first.close()
        second.close()


def test_the_token_lock_excludes_other_instances(pg_url: str) -> None:
    """While one instance holds a server's token lock, another waits for it."""
    first, second = PostgresStore(pg_url), PostgresStore(pg_url)
    order: list[str] = []
    try:
        one = StoredRefreshToken(first, "planning", first.advisory_lock)
        two = StoredRefreshToken(second, "planning", second.advisory_lock)
        inside = threading.Event()

        def other() -> None:
            inside.wait(5)
            with two.locked():
                order.append("second")

        thread = threading.Thread(target=other)
        thread.start()
        with one.locked():
            inside.set()
            thread.join(timeout=0.5)
            order.append("first")
        thread.join(timeout=5)
        assert order == ["first", "second"]
    finally:
        first.close()
        second.close()


def test_a_message_with_a_nul_character_is_bad_input_not_a_store_failure(
    pg_url: str, make_config: MakeConfig
) -> None:
    """NUL, which jsonb cannot hold, is refused as a validation error before any commit."""
    config = make_config(EPMPULSE_DATABASE_URL=pg_url)
    store = PostgresStore(pg_url)
    try:
        service = StatusService(config.estate.layout, store)
        with pytest.raises(ValidationError, match="NUL"):
            service.set("Planning", "Actuals", "OK", "bad \x00 byte", by="system")
        assert store.history() == []
    finally:
        store.close()
