"""The PostgreSQL store's tables, their migrations and the statements run on them (SPEC §10).

Tables (created or migrated at start by :func:`migrate`, under an advisory lock so two
instances starting at once do not race; the schema version is recorded in
``epmpulse_schema``):

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
- ``epmpulse_commit_at``: a function writing a whole commit in one statement, if the
  board is still at the version the commit was computed on.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from bot.errors import StoreError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
# pg_advisory_xact_lock key guarding migrations: "EPMPULSE" in ASCII, fits a bigint.
MIGRATION_LOCK = 0x45504D50554C5345

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
        # A whole commit in one statement, so in one round trip (see bot.store.postgres).
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
SERIALIZE = "SELECT pg_advisory_xact_lock(hashtext('epmpulse.board.' || current_schema()))"
READ_BOARD = "SELECT version FROM epmpulse_board WHERE id = 1"
CHANGED = """
    SELECT 0, app, domain, record FROM epmpulse_records WHERE version > %(v)s
    UNION ALL
    SELECT 1, name, NULL, value FROM epmpulse_meta WHERE version > %(v)s
"""
# The same plus the board version, in one statement: one consistent read.
SNAPSHOT = CHANGED + " UNION ALL SELECT 2, NULL, NULL, to_jsonb(version) FROM epmpulse_board"  # noqa: S608 - constants only
PUT_RECORDS = """
    INSERT INTO epmpulse_records (app, domain, record, version)
    SELECT a, d, r::jsonb, %(v)s FROM unnest(%(apps)b::text[], %(domains)b::text[],
        %(records)b::text[]) AS t(a, d, r)
    ON CONFLICT (app, domain) DO UPDATE SET record = excluded.record, version = excluded.version
"""
PUT_META = """
    INSERT INTO epmpulse_meta (name, value, version)
    SELECT n, j::jsonb, %(v)s FROM unnest(%(names)b::text[], %(values)b::text[]) AS t(n, j)
    ON CONFLICT (name) DO UPDATE SET value = excluded.value, version = excluded.version
"""
BUMP = "UPDATE epmpulse_board SET version = %(v)s WHERE id = 1"
# A whole commit's rows, if the board is still at ``base`` (empty arrays insert nothing).
COMMIT_AT = """
    SELECT * FROM epmpulse_commit_at(%(base)s, %(bump)s,
        %(apps)b::text[], %(domains)b::text[], %(records)b::text[],
        %(names)b::text[], %(values)b::text[],
        %(h_apps)b::text[], %(h_domains)b::text[], %(entries)b::text[])
"""


def migrate(conn: psycopg.Connection[Any], label: str) -> None:
    """Create or migrate the tables on ``conn`` in one transaction (``label`` names the database).

    StoreError when the database holds a newer schema than this release understands.
    """
    with conn.transaction():
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
                f"the database {label} has schema version {current}, newer than "
                f"this EPMPulse understands ({SCHEMA_VERSION}); upgrade EPMPulse"
            )
        for step in range(current, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
            logger.info("database %s: schema migrated to version %d", label, step + 1)
        conn.execute(
            """INSERT INTO epmpulse_schema (id, version) VALUES (1, %s)
               ON CONFLICT (id) DO UPDATE SET version = excluded.version,
               migrated_at = CASE WHEN epmpulse_schema.version = excluded.version
                   THEN epmpulse_schema.migrated_at ELSE now() END""",
            (SCHEMA_VERSION,),
        )
