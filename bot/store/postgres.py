"""The PostgreSQL store (SPEC §10): board, history and bookkeeping in one database.

The tables, their migrations and the statements run on them are in
:mod:`bot.store.postgres_schema`; the connection pool in :mod:`bot.store.postgres_pool`.

A commit is one transaction. While no other process writes, it is one statement and
one round trip: the mutations run on the cached board, and ``epmpulse_commit_at`` (a
function created by the migrations) takes the commit lock and writes only if the board
is still at that version; if not, it returns what changed and writes nothing. After
such a miss, and as long as other processes keep committing between this one's
batches, a commit takes the lock first: BEGIN, the lock and the read of what changed
in one pipelined round trip, then the write and COMMIT in a second (autocommit
connections, BEGIN/COMMIT sent by hand). Either way the mutations see exactly the
board they change, so the epoch fencing of SPEC §15 holds, and a mutation may run
twice: only its last run counts. Arrays travel in binary (no text escaping of JSON).
Threads of one process share a commit, as with the JSON store. Any database failure
raises :class:`~bot.errors.StoreError` after the transaction rolled back, so a batch is
never half-applied.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import psycopg
from psycopg_pool import PoolTimeout

from bot.database import conninfo, reason, safe_url
from bot.errors import StoreError
from bot.model import RecordKey
from bot.store import files, postgres_schema
from bot.store.base import BoardState, JsonDict, Mutation, Store, WorkingState
from bot.store.commit_queue import GroupCommit, Pending, apply_batch, settle
from bot.store.postgres_pool import POOL_MAX_SIZE, open_pool, pipelined_transaction
from bot.store.postgres_schema import (
    BUMP,
    COMMIT_AT,
    PUT_META,
    PUT_RECORDS,
    READ_BOARD,
    SERIALIZE,
    SNAPSHOT,
)
from bot.store.shared_read import SharedRead

logger = logging.getLogger(__name__)

HISTORY_BATCH = 500
T = TypeVar("T")


class PostgresStore(Store):
    """The board, history and bookkeeping in PostgreSQL, shared by every instance."""

    def __init__(self, url: str, *, max_size: int = POOL_MAX_SIZE) -> None:
        self._label = safe_url(url)
        self._pool = open_pool(conninfo(url), self._label, max_size=max_size)
        self._on_lend: Callable[[psycopg.Connection[Any]], None] | None = None
        self._commits = GroupCommit()
        self._reads = SharedRead(self._read_board)
        # Whether another process committed between two batches of this one: then the
        # next batch takes the lock before it reads (see _commit_at_cache).
        self._contended = False
        self._cache_lock = threading.Lock()
        self._cache = BoardState.empty()
        try:
            with self._connection() as conn:
                postgres_schema.migrate(conn, self._label)
            self.snapshot()
        except BaseException:
            self._pool.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self._label!r})"

    # --- reading -------------------------------------------------------------------

    def snapshot(self) -> BoardState:
        """Return the latest committed board (one query fetching only what changed).

        Threads asking at once share one query that started after each of them asked.
        """
        return self._reads.get()

    def _read_board(self) -> BoardState:
        cached = self._cache
        with self._connection() as conn:
            rows = conn.execute(SNAPSHOT, {"v": cached.version}).fetchall()
        version = next((int(r[3]) for r in rows if r[0] == 2), cached.version)
        return self._remember(_merge(cached, version, rows))

    def history(
        self, app: str | None = None, domain: str | None = None, limit: int | None = None
    ) -> list[JsonDict]:
        """Return history entries, oldest first, filtered by app/domain, the last ``limit``."""
        where, params = _filter(app, domain)
        # ``where`` holds fixed clauses; the values travel as parameters.
        sql = f"SELECT entry FROM epmpulse_history {where} ORDER BY version DESC, idx DESC"  # noqa: S608
        if limit:
            sql += " LIMIT %(limit)s"
            params["limit"] = limit
        with self._connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [row[0] for row in reversed(rows)]

    def iter_history(self) -> Iterator[JsonDict]:
        """Yield every history entry, oldest first, in batches (memory stays flat)."""
        return self.iter_history_after(0)

    def iter_history_after(self, version: int) -> Iterator[JsonDict]:
        """Yield the entries of commits after ``version``, oldest first, in batches.

        Each batch is one short query (keyset on ``(version, idx)``), so a slow consumer
        holds no connection and no transaction open.
        """
        position = (version, 2**31 - 1)
        while True:
            with self._connection() as conn:
                rows = conn.execute(
                    """SELECT version, idx, entry FROM epmpulse_history
                       WHERE (version, idx) > (%s, %s) ORDER BY version, idx LIMIT %s""",
                    (*position, HISTORY_BATCH),
                ).fetchall()
            for row in rows:
                yield row[2]
            if len(rows) < HISTORY_BATCH:
                return
            position = (int(rows[-1][0]), int(rows[-1][1]))

    # --- writing -------------------------------------------------------------------

    def commit(self, mutation: Mutation[T]) -> T:
        """Apply ``mutation`` in one transaction and return its result once committed."""
        return self._commits.submit(mutation, self._run_batch)

    def _run_batch(self, batch: list[Pending]) -> None:
        failure: BaseException | None = StoreError("the commit was interrupted")
        written: BoardState | None = None
        try:
            seen = self._cache.version
            with self._connection() as conn:
                if not self._contended:
                    written = self._commit_at_cache(conn, batch)
                if written is None:
                    written = self._commit_locked(conn, batch, seen)
            failure = None
        except psycopg.Error as exc:
            failure = StoreError(f"the database {self._label} did not take the change: {exc}")
            failure.__cause__ = exc
        except StoreError as exc:
            failure = exc
        finally:
            settle(batch, failure)
        if written is not None and failure is None:
            self._remember(written)

    def _commit_at_cache(
        self, conn: psycopg.Connection[Any], batch: list[Pending]
    ) -> BoardState | None:
        """Run ``batch`` on the cached board and commit it in one statement, one round trip.

        The statement writes only if the board is still at the cached version, so the
        mutations saw exactly the board they change. Otherwise another process committed
        in between: the cache catches up with the rows returned, the mutations' results
        are forgotten, and None says to commit under the lock instead.
        """
        base = self._cache
        work = _run(base, batch)
        rows = conn.execute(COMMIT_AT, _commit_params(base, work)).fetchall()
        if not rows:
            return _committed(base, work)
        self._remember(_merge(base, _board_version(rows, self._label), rows))
        for pending in batch:
            pending.result = pending.error = None
        self._contended = True
        return None

    def _commit_locked(
        self, conn: psycopg.Connection[Any], batch: list[Pending], seen: int
    ) -> BoardState:
        """Take the commit lock, read what changed, run ``batch`` on it and commit.

        Two round trips in one transaction: the lock and the read; then the write and
        COMMIT. ``seen`` is the board version this process knew before the batch: when
        nobody else committed since, the next batch tries the one-statement commit again.
        """
        cached = self._cache
        with pipelined_transaction(conn):
            conn.execute(SERIALIZE)
            # After the lock, in its own statement: it sees every earlier commit.
            rows = conn.execute(SNAPSHOT, {"v": cached.version}).fetchall()
            base = _merge(cached, _board_version(rows, self._label), rows)
            self._remember(base)
            self._contended = base.version != seen
            work = _run(base, batch)
            written = conn.execute(COMMIT_AT, _commit_params(base, work))
        if written.fetchall():  # cannot be while the lock is held; never report a lost write
            raise StoreError(f"the database {self._label} moved the board during a commit")
        return _committed(base, work)

    def load(
        self,
        version: int,
        records: dict[RecordKey, JsonDict],
        meta: dict[str, Any],
        history: Iterable[JsonDict],
        *,
        delivered: str | None = None,
    ) -> int:
        """Fill a database that has no history with a board and its history, in one transaction.

        History entries keep their own ``version`` (times and authors are part of each
        entry); the board continues after the highest one and after the database's own
        version (an instance may have kept bookkeeping there), so every running process
        sees the new board. ``delivered`` names a meta value set to ``{"version": v}`` of
        the new board: the imported changes are the past, not news to alert about.
        Returns the entries written. Raises StoreError when the database already holds
        history (checked under the board lock, so two imports cannot both run).
        """
        count, last = 0, 0
        try:
            with self._connection() as conn, conn.transaction():
                conn.execute(SERIALIZE)
                row = conn.execute(READ_BOARD).fetchone()
                current = int(row[0]) if row else 0
                if conn.execute("SELECT 1 FROM epmpulse_history LIMIT 1").fetchone():
                    raise StoreError("the database already holds history; nothing imported")
                idx = 0
                batch: list[tuple[int, int, JsonDict]] = []
                for entry in history:
                    seen = int(entry.get("version", last) or last)
                    idx = idx + 1 if seen == last else 0
                    last = seen
                    batch.append((seen, idx, entry))
                    if len(batch) >= HISTORY_BATCH:
                        count += _copy_history(conn, batch)
                        batch = []
                count += _copy_history(conn, batch)
                final = max(version, last, current + 1)
                if delivered is not None:
                    meta = {**meta, delivered: {"version": final}}
                conn.execute(
                    PUT_RECORDS,
                    {
                        "v": final,
                        "apps": [k[0] for k in records],
                        "domains": [k[1] for k in records],
                        "records": [files.dumps(r).decode() for r in records.values()],
                    },
                )
                conn.execute(
                    PUT_META,
                    {
                        "v": final,
                        "names": list(meta),
                        "values": [files.dumps(v).decode() for v in meta.values()],
                    },
                )
                conn.execute(BUMP, {"v": final})
        except psycopg.Error as exc:
            raise StoreError(f"the database {self._label} did not take the import: {exc}") from exc
        self.snapshot()
        return count

    @contextmanager
    def advisory_lock(self, name: str) -> Iterator[None]:
        """Hold a lock named ``name`` that every process and instance on this database shares.

        A transaction-level advisory lock on a pooled connection: it is released when the
        block ends, and by the server if this process dies holding it.
        """
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
            yield

    def now(self) -> datetime:
        """The database's clock (``now()``, in UTC): one clock for every instance and host."""
        with self._connection() as conn:
            row = conn.execute("SELECT now()").fetchone()
        if row is None or not isinstance(row[0], datetime):
            raise StoreError(f"the database {self._label} did not tell the time")
        return row[0].astimezone(UTC)

    def backup(self, keep: int = 24) -> Path | None:
        """Nothing to do: PostgreSQL's own backups (pg_dump, WAL archiving) cover the board.

        A file copy in the local data directory would not help another instance and could
        not be consistent with the database, so it returns None.
        """
        return None

    def on_lend(self, observer: Callable[[psycopg.Connection[Any]], None] | None) -> None:
        """Call ``observer`` with each connection the store borrows from now on (None: stop).

        For measurement: :class:`bot.store.roundtrips.RoundTrips` traces the wire with it.
        """
        self._on_lend = observer

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()

    # --- plumbing ------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; database failures become :class:`StoreError`."""
        try:
            with self._pool.connection() as conn:
                if self._on_lend is not None:
                    self._on_lend(conn)
                yield conn
        except PoolTimeout as exc:
            raise StoreError(f"the database {self._label} is not reachable") from exc
        except psycopg.Error as exc:
            raise StoreError(f"the database {self._label} failed: {exc}") from exc

    def _remember(self, state: BoardState) -> BoardState:
        with self._cache_lock:
            if state.version >= self._cache.version:
                self._cache = state
            return self._cache if self._cache.version > state.version else state


def peek(url: str, meta_name: str) -> tuple[int, Any] | None:
    """The board version and one meta value, read without creating anything (``check``).

    None when the database has no EPMPulse tables yet; StoreError when it cannot be read.
    """
    label = safe_url(url)
    try:
        with psycopg.connect(conninfo(url)) as conn:
            present = conn.execute("SELECT to_regclass('epmpulse_schema')").fetchone()
            if present is None or present[0] is None:
                return None
            board = conn.execute("SELECT version FROM epmpulse_board WHERE id = 1").fetchone()
            value = conn.execute(
                "SELECT value FROM epmpulse_meta WHERE name = %s", (meta_name,)
            ).fetchone()
            conn.rollback()  # only read
    except psycopg.Error as exc:
        raise StoreError(f"cannot read the database {label}: {reason(exc)}") from exc
    return (int(board[0]) if board else 0), (value[0] if value else None)


def _merge(cached: BoardState, version: int, rows: list[tuple[Any, ...]]) -> BoardState:
    """``cached`` with the changed records and meta values in ``rows`` applied."""
    changed = [r for r in rows if r[0] != 2]
    if not changed and version == cached.version:
        return cached
    records = dict(cached.records)
    meta = dict(cached.meta)
    for kind, name, domain, value in changed:
        if kind == 0:
            records[(name, domain)] = value
        else:
            meta[name] = value
    return BoardState(version, MappingProxyType(records), MappingProxyType(meta))


def _run(base: BoardState, batch: list[Pending]) -> WorkingState:
    """The working state after running every mutation of ``batch`` on ``base``."""
    work = WorkingState(base.version, dict(base.records), dict(base.meta))
    apply_batch(work, batch)
    return work


def _commit_params(base: BoardState, work: WorkingState) -> dict[str, Any]:
    """The parameters of ``COMMIT_AT`` writing what ``work`` changed as version + 1."""
    records = [(k, r) for k, r in work.records.items() if base.records.get(k) is not r]
    meta = [(n, v) for n, v in work.meta.items() if n not in base.meta or base.meta[n] is not v]
    for entry in work.history:
        entry["version"] = base.version + 1
    return {
        "base": base.version,
        "bump": work.dirty,
        "apps": [k[0] for k, _ in records],
        "domains": [k[1] for k, _ in records],
        "records": [files.dumps(r).decode() for _, r in records],
        "names": [n for n, _ in meta],
        "values": [files.dumps(v).decode() for _, v in meta],
        "h_apps": [str(e.get("app", "")) for e in work.history],
        "h_domains": [str(e.get("domain", "")) for e in work.history],
        "entries": [files.dumps(e).decode() for e in work.history],
    }


def _committed(base: BoardState, work: WorkingState) -> BoardState:
    """The board once ``work`` is committed on top of ``base``."""
    if not work.dirty:
        return base
    records, meta = MappingProxyType(work.records), MappingProxyType(work.meta)
    return BoardState(base.version + 1, records, meta)


def _board_version(rows: list[tuple[Any, ...]], label: str) -> int:
    """The board version among snapshot ``rows`` (kind 2)."""
    version = next((r[3] for r in rows if r[0] == 2), None)
    if version is None:
        raise StoreError(f"the database {label} has no board row")
    return int(version)


def _copy_history(conn: psycopg.Connection[Any], batch: list[tuple[int, int, JsonDict]]) -> int:
    if batch:
        conn.execute(
            """INSERT INTO epmpulse_history (version, idx, app, domain, entry)
               SELECT v, i, a, d, e::jsonb FROM unnest(%b::bigint[], %b::int[], %b::text[],
                   %b::text[], %b::text[]) AS t(v, i, a, d, e)""",
            (
                [b[0] for b in batch],
                [b[1] for b in batch],
                [str(b[2].get("app", "")) for b in batch],
                [str(b[2].get("domain", "")) for b in batch],
                [files.dumps(b[2]).decode() for b in batch],
            ),
        )
    return len(batch)


def _filter(app: str | None, domain: str | None) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {}
    if app is not None:
        clauses.append("app = %(app)s")
        params["app"] = app
    if domain is not None:
        clauses.append("domain = %(domain)s")
        params["domain"] = domain
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params
