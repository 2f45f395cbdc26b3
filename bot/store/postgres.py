"""The PostgreSQL store (SPEC §10): board, history and bookkeeping in one database.

Tables (created or migrated at start, under an advisory lock so two instances starting
at once do not race; the schema version is recorded in ``epmpulse_schema``):

- ``epmpulse_board``: one row holding the board ``version``. Every commit takes a
  transaction-level advisory lock (one per schema) before reading and bumping it, so
  commits of every process and instance serialize and the history order is the commit
  order. The lock manager hands the lock to the next waiter only; a ``FOR UPDATE`` on
  the row would wake every waiter to race for it, and write a WAL record for the lock.
- ``epmpulse_records`` / ``epmpulse_meta``: one row per domain record / meta value, each
  stamped with the version that last wrote it, so a reader fetches only what changed
  since the board it already holds. Both stay small (one row per domain or setting),
  so ``version`` has no index: updates stay HOT and write less.
- ``epmpulse_history``: one row per change, keyed by ``(version, idx)``.

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
never half-applied. The pool lends an idle connection without a round trip unless the
server sent it something (then it checks it), so a connection the server dropped is
replaced instead of failing a request; one found dead has every idle connection
checked, and a lost connection is retried for a few seconds only, so the first
request after an outage reaches the database again at once (SPEC §15).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.errors import StoreError
from bot.store import files
from bot.store.base import BoardState, JsonDict, Mutation, RecordKey, Store, WorkingState
from bot.store.commit_queue import GroupCommit, Pending, apply_batch, settle
from bot.store.shared_read import SharedRead

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
POOL_MAX_SIZE = 8
POOL_TIMEOUT_SECONDS = 10.0
# How long the pool retries a lost connection (backing off 1, 2, 4 s…) before giving up;
# the next request then starts a fresh attempt at once. psycopg_pool's default, 300 s,
# let the back-off grow past a minute: after a 130 s outage the first attempt to reach
# the database came 101 s after it was back. A few seconds keep the next attempt close
# (SPEC §15: the first request after an outage succeeds within 15 s; bench/outage.py).
RECONNECT_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5
LOCK_TIMEOUT = "30s"  # a commit waiting longer for the board answers STORE_UNAVAILABLE
STATEMENT_TIMEOUT = "60s"
HISTORY_BATCH = 500
# pg_advisory_xact_lock key guarding migrations: "EPMPULSE" in ASCII, fits a bigint.
MIGRATION_LOCK = 0x45504D50554C5345
T = TypeVar("T")

# Each migration brings the schema from its index to index + 1.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE IF NOT EXISTS epmpulse_board (
            id integer PRIMARY KEY CHECK (id = 1),
            version bigint NOT NULL)""",
        "INSERT INTO epmpulse_board (id, version) VALUES (1, 0) ON CONFLICT DO NOTHING",
        """CREATE TABLE IF NOT EXISTS epmpulse_records (
            app text NOT NULL,
            domain text NOT NULL,
            record jsonb NOT NULL,
            version bigint NOT NULL,
            PRIMARY KEY (app, domain))""",
        """CREATE TABLE IF NOT EXISTS epmpulse_meta (
            name text PRIMARY KEY,
            value jsonb NOT NULL,
            version bigint NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS epmpulse_history (
            version bigint NOT NULL,
            idx integer NOT NULL,
            app text NOT NULL,
            domain text NOT NULL,
            entry jsonb NOT NULL,
            PRIMARY KEY (version, idx))""",
        """CREATE INDEX IF NOT EXISTS epmpulse_history_domain
            ON epmpulse_history (app, domain, version, idx)""",
    ],
    [
        # A whole commit in one statement, so in one round trip (see _commit_at_cache).
        # Only a function can take the commit lock and then read the board version: a
        # single SQL statement reads with the snapshot it started with, before the lock.
        # Each statement of a plpgsql function takes a fresh snapshot, so the version is
        # read after every earlier commit. When the board is no longer at ``base``
        # nothing is written: the rows that changed since are returned instead (as the
        # snapshot query returns them, kind 2 being the board version).
        """CREATE OR REPLACE FUNCTION epmpulse_commit_at(
            base bigint, bump boolean,
            apps text[], domains text[], records text[],
            names text[], vals text[],
            h_apps text[], h_domains text[], entries text[])
        RETURNS TABLE (kind integer, key text, sub text, value jsonb)
        LANGUAGE plpgsql AS $$
        DECLARE
            board_version bigint;
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('epmpulse.board.' || current_schema()));
            SELECT b.version INTO board_version FROM epmpulse_board b WHERE b.id = 1;
            IF board_version IS DISTINCT FROM base THEN
                RETURN QUERY
                    SELECT 0, r.app, r.domain, r.record FROM epmpulse_records r
                        WHERE r.version > base
                    UNION ALL
                    SELECT 1, m.name, NULL, m.value FROM epmpulse_meta m
                        WHERE m.version > base
                    UNION ALL
                    SELECT 2, NULL, NULL, to_jsonb(board_version);
                RETURN;
            END IF;
            IF NOT bump THEN
                RETURN;
            END IF;
            INSERT INTO epmpulse_records AS r (app, domain, record, version)
                SELECT t.a, t.d, t.r::jsonb, base + 1
                FROM unnest(apps, domains, records) AS t(a, d, r)
                ON CONFLICT (app, domain)
                DO UPDATE SET record = excluded.record, version = excluded.version;
            INSERT INTO epmpulse_meta AS m (name, value, version)
                SELECT t.n, t.j::jsonb, base + 1 FROM unnest(names, vals) AS t(n, j)
                ON CONFLICT (name)
                DO UPDATE SET value = excluded.value, version = excluded.version;
            INSERT INTO epmpulse_history (version, idx, app, domain, entry)
                SELECT base + 1, t.n - 1, t.a, t.d, t.e::jsonb
                FROM unnest(h_apps, h_domains, entries) WITH ORDINALITY AS t(a, d, e, n);
            UPDATE epmpulse_board SET version = base + 1 WHERE id = 1;
        END
        $$""",
    ],
]

# Commits queue on a transaction-level advisory lock (one per schema) rather than on
# the board row: the lock manager wakes the next waiter only, where a row lock wakes
# every waiter of the committing transaction to race for the row again. Every writer
# takes it before reading the board version.
_SERIALIZE = "SELECT pg_advisory_xact_lock(hashtext('epmpulse.board.' || current_schema()))"
_READ_BOARD = "SELECT version FROM epmpulse_board WHERE id = 1"
_CHANGED = """
    SELECT 0, app, domain, record FROM epmpulse_records WHERE version > %(v)s
    UNION ALL
    SELECT 1, name, NULL, value FROM epmpulse_meta WHERE version > %(v)s
"""
# The same plus the board version, in one statement: one consistent read.
_SNAPSHOT = _CHANGED + " UNION ALL SELECT 2, NULL, NULL, to_jsonb(version) FROM epmpulse_board"  # noqa: S608 - constants only
_PUT_RECORDS = """
    INSERT INTO epmpulse_records (app, domain, record, version)
    SELECT a, d, r::jsonb, %(v)s FROM unnest(%(apps)b::text[], %(domains)b::text[],
        %(records)b::text[]) AS t(a, d, r)
    ON CONFLICT (app, domain) DO UPDATE SET record = excluded.record, version = excluded.version
"""
_PUT_META = """
    INSERT INTO epmpulse_meta (name, value, version)
    SELECT n, j::jsonb, %(v)s FROM unnest(%(names)b::text[], %(values)b::text[]) AS t(n, j)
    ON CONFLICT (name) DO UPDATE SET value = excluded.value, version = excluded.version
"""
_BUMP = "UPDATE epmpulse_board SET version = %(v)s WHERE id = 1"
# A whole commit's rows, if the board is still at ``base`` (empty arrays insert nothing).
_COMMIT_AT = """
    SELECT * FROM epmpulse_commit_at(%(base)s, %(bump)s,
        %(apps)b::text[], %(domains)b::text[], %(records)b::text[],
        %(names)b::text[], %(values)b::text[],
        %(h_apps)b::text[], %(h_domains)b::text[], %(entries)b::text[])
"""


def safe_url(url: str) -> str:
    """``url`` without its password, for logs and messages."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(an unparsable database URL)"
    params.pop("password", None)
    host, db = params.get("host", "localhost"), params.get("dbname", "")
    return f"postgresql://{host}:{params.get('port', 5432)}/{db}"


def connection_kwargs(url: str) -> dict[str, Any]:
    """Connection settings that notice a dead peer within seconds, not hours."""
    params = conninfo_to_dict(url)
    defaults: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "application_name": "epmpulse",
    }
    return {k: v for k, v in defaults.items() if k not in params}


class PostgresStore(Store):
    """The board, history and bookkeeping in PostgreSQL, shared by every instance."""

    def __init__(self, url: str, *, max_size: int = POOL_MAX_SIZE) -> None:
        self._label = safe_url(url)
        self._url = make_conninfo(url, **connection_kwargs(url))
        self._pool = ConnectionPool(
            self._url,
            min_size=1,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True},
            configure=_configure,
            check=self._check_connection,
            timeout=POOL_TIMEOUT_SECONDS,
            reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
            name="epmpulse",
        )
        try:
            # One direct attempt first: a refused connection fails at once, with its reason.
            psycopg.connect(self._url, autocommit=True).close()
            self._pool.open(wait=True, timeout=POOL_TIMEOUT_SECONDS)
        except (psycopg.Error, PoolTimeout) as exc:
            self._pool.close()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot connect to the database {self._label}: {reason}") from exc
        self._on_lend: Callable[[psycopg.Connection[Any]], None] | None = None
        self._commits = GroupCommit()
        self._reads = SharedRead(self._read_board)
        # Whether another process committed between two batches of this one: then the
        # next batch takes the lock before it reads (see _commit_at_cache).
        self._contended = False
        self._cache_lock = threading.Lock()
        self._cache = BoardState.empty()
        try:
            self.migrate()
            self.snapshot()
        except BaseException:
            self._pool.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self._label!r})"

    @property
    def url(self) -> str:
        """The database URL (with its password: never log it; see :func:`safe_url`)."""
        return self._url

    # --- schema --------------------------------------------------------------------

    def migrate(self) -> int:
        """Create or migrate the tables; returns the schema version now recorded."""
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(
                """CREATE TABLE IF NOT EXISTS epmpulse_schema (
                    id integer PRIMARY KEY CHECK (id = 1),
                    version integer NOT NULL,
                    migrated_at timestamptz NOT NULL DEFAULT now())"""
            )
            row = conn.execute("SELECT version FROM epmpulse_schema WHERE id = 1").fetchone()
            current = int(row[0]) if row else 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"the database {self._label} has schema version {current}, newer than "
                    f"this EPMPulse understands ({SCHEMA_VERSION}); upgrade EPMPulse"
                )
            for step in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
                logger.info("database %s: schema migrated to version %d", self._label, step + 1)
            conn.execute(
                """INSERT INTO epmpulse_schema (id, version) VALUES (1, %s)
                   ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                   migrated_at = CASE WHEN epmpulse_schema.version = excluded.version
                       THEN epmpulse_schema.migrated_at ELSE now() END""",
                (SCHEMA_VERSION,),
            )
        return SCHEMA_VERSION

    # --- reading -------------------------------------------------------------------

    def snapshot(self) -> BoardState:
        """Return the latest committed board (one query fetching only what changed).

        Threads asking at once share one query that started after each of them asked.
        """
        return self._reads.get()

    def _read_board(self) -> BoardState:
        cached = self._cache
        with self._connection() as conn:
            rows = conn.execute(_SNAPSHOT, {"v": cached.version}).fetchall()
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
        rows = conn.execute(_COMMIT_AT, _commit_params(base, work)).fetchall()
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
        with _transaction(conn):
            conn.execute(_SERIALIZE)
            # After the lock, in its own statement: it sees every earlier commit.
            rows = conn.execute(_SNAPSHOT, {"v": cached.version}).fetchall()
            base = _merge(cached, _board_version(rows, self._label), rows)
            self._remember(base)
            self._contended = base.version != seen
            work = _run(base, batch)
            written = conn.execute(_COMMIT_AT, _commit_params(base, work))
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
                conn.execute(_SERIALIZE)
                row = conn.execute(_READ_BOARD).fetchone()
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
                    _PUT_RECORDS,
                    {
                        "v": final,
                        "apps": [k[0] for k in records],
                        "domains": [k[1] for k in records],
                        "records": [files.dumps(r).decode() for r in records.values()],
                    },
                )
                conn.execute(
                    _PUT_META,
                    {
                        "v": final,
                        "names": list(meta),
                        "values": [files.dumps(v).decode() for v in meta.values()],
                    },
                )
                conn.execute(_BUMP, {"v": final})
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

    def _check_connection(self, conn: psycopg.Connection[Any]) -> None:
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
            self._pool.check()
            raise

    def _remember(self, state: BoardState) -> BoardState:
        with self._cache_lock:
            if state.version >= self._cache.version:
                self._cache = state
            return self._cache if self._cache.version > state.version else state


@contextmanager
def _transaction(conn: psycopg.Connection[Any]) -> Iterator[None]:
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


def peek(url: str, meta_name: str) -> tuple[int, Any] | None:
    """The board version and one meta value, read without creating anything (``check``).

    None when the database has no EPMPulse tables yet; StoreError when it cannot be read.
    """
    label = safe_url(url)
    try:
        with psycopg.connect(make_conninfo(url, **connection_kwargs(url))) as conn:
            present = conn.execute("SELECT to_regclass('epmpulse_schema')").fetchone()
            if present is None or present[0] is None:
                return None
            board = conn.execute("SELECT version FROM epmpulse_board WHERE id = 1").fetchone()
            value = conn.execute(
                "SELECT value FROM epmpulse_meta WHERE name = %s", (meta_name,)
            ).fetchone()
            conn.rollback()  # only read
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"cannot read the database {label}: {reason}") from exc
    return (int(board[0]) if board else 0), (value[0] if value else None)


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
    """The parameters of :data:`_COMMIT_AT` writing what ``work`` changed as version + 1."""
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
