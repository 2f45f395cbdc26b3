"""Is the database session stable? (SPEC §15 "Poolers")

Leader election holds a session-level advisory lock (:mod:`bot.leader`). Behind a
transaction-mode pooler (PgBouncer ``pool_mode = transaction``, as many managed
"pooler" URLs are) a client's session lends its server connection to other clients
between transactions: two instances could both hold "the" lock, and a lock left on an
idle server connection would outlive its leader. ``epmpulse run`` therefore checks at
start that its session keeps one server backend across transactions.

The probe is deterministic. Session A asks for its backend pid (autocommit); session B
opens a transaction, asks for its own and keeps the transaction open, so B holds a
server connection — behind a transaction pooler, the one A just used; then A asks
again. A direct connection or a session-mode pooler answers the same pid twice, and
never gives B the pid of A. A transaction pooler gives A another backend, or gives B
A's; and if it has no other server free, A's question waits for B, which no session
of its own ever does.

The probe runs on a daemon thread and is bounded: a pooler may queue a question for
minutes, and ignores cancel requests for a client that waits for a server.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import psycopg

from bot.database import conninfo, reason, safe_url
from bot.errors import ConfigError, StoreError

CHECK_TIMEOUT_SECONDS = 15.0
_PID = "SELECT pg_backend_pid()"


@dataclass
class _Probe:
    """The pids seen, in order (A, B, A again), and what stopped the probe early."""

    url: str
    pids: list[int] = field(default_factory=list)
    failure: psycopg.Error | None = None

    def run(self) -> None:
        """Ask A, then B inside a transaction it keeps open, then A again."""
        try:
            with (
                psycopg.connect(self.url, autocommit=True) as a,
                psycopg.connect(self.url) as b,
            ):
                self.pids.append(_pid(a))
                self.pids.append(_pid(b))  # opens B's transaction, left open
                self.pids.append(_pid(a))
                b.rollback()
        except psycopg.Error as exc:
            self.failure = exc


def _pid(conn: psycopg.Connection[tuple[int]]) -> int:
    row = conn.execute(_PID).fetchone()
    if row is None:
        raise psycopg.DataError("pg_backend_pid() returned no row")
    return int(row[0])


def check_stable_session(url: str, *, timeout: float = CHECK_TIMEOUT_SECONDS) -> None:
    """Raise ConfigError when ``url`` reaches a transaction-mode pooler.

    StoreError when the database cannot be asked (unreachable, refused, too slow).
    """
    label = safe_url(url)
    probe = _Probe(conninfo(url))
    worker = threading.Thread(target=probe.run, name="epmpulse-session-check", daemon=True)
    worker.start()
    worker.join(timeout)
    pids = list(probe.pids)
    if probe.failure is not None:
        raise StoreError(
            f"cannot check the database session at {label}: {reason(probe.failure)}"
        ) from probe.failure
    if len(pids) == 3:
        first, other, again = pids
        if again == first and other != first:
            return
        seen = f"backend {first}, then {again} after another session took {other}"
    elif len(pids) == 2:
        seen = f"no answer within {timeout:g} s while another session held a transaction"
    else:
        raise StoreError(f"the database {label} did not answer the session check in {timeout:g} s")
    raise ConfigError(
        [
            f"EPMPULSE_DATABASE_URL {label} goes through a transaction-mode pooler "
            f"(the session did not keep its server connection: {seen}). Leader election "
            "holds a session-level lock, which such a pooler breaks: use a direct "
            "connection or a session-mode pooler (PgBouncer pool_mode = session)."
        ]
    )
