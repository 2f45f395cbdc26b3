"""Leadership: which instance runs the scheduled work (SPEC §10).

Every instance serves Slack and the REST API; only the *leader* runs the parts added
with :meth:`bot.runtime.Runtime.add_leader_only` (canvas publishing, EPM polling and the
stale rule, alert/DM delivery, close-calendar transitions).

- :class:`SoleLeader` — the JSON store: one ``run`` per data directory, always leader.
- :class:`PostgresLeadership` — a session-level advisory lock held on a dedicated
  connection. Whoever holds it leads. The lock dies with the session, so a leader that
  is killed (SIGKILL included) frees it as soon as the server sees the socket close; a
  leader cut off from the server is dropped by TCP keepalives and ``tcp_user_timeout``,
  set on both ends below the leader timeout.

The heartbeat runs on a thread of its own, which starting or running the leader's parts
never blocks (``on_gain`` and ``on_loss`` must return at once). Each confirmed beat
renews the :class:`~bot.lease.Lease` to the moment the beat was sent plus a third of the
timeout; the first failed beat ends it and stops the scheduled work, and so does a beat
that comes back after the lease ran out. A new leader waits two thirds after winning the
lock before it acts: by then the lease of any old leader, whose last beat was sent
before its session died, has run out, and so has the wait of any write it sent last.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from bot.config import Config
from bot.errors import EpmPulseError, StoreError
from bot.lease import Lease

logger = logging.getLogger(__name__)

RUN_LOCK_FILE = "run.lock"  # in the data directory: one `run` per JSON store

# pg_try_advisory_lock key: "EPMLEADR" in ASCII, mixed with the schema name in SQL.
_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext('epmpulse.leader.' || current_schema()))"
# A leader's beat: its session is alive AND still holds the lock (a pooler that swapped
# the session, or pg_advisory_unlock_all, must end leadership too).
_HELD_SQL = """
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
          AND objid = hashtext('epmpulse.leader.' || current_schema())::oid
    )"""
MAX_BEAT_SECONDS = 1.0


def instance_name() -> str:
    """This process as ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Role:
    """Whether this instance leads, and who it is."""

    leader: bool
    instance: str


class Leadership(Protocol):
    """Decides whether this instance is the leader and reports every change."""

    instance: str
    lease: Lease

    @property
    def is_leader(self) -> bool:
        """Whether this instance leads right now."""

    def start(self, on_gain: Callable[[], None], on_loss: Callable[[], None]) -> None:
        """Begin: call ``on_gain`` when leadership is won, ``on_loss`` when it is lost.

        An instance that wins at once calls ``on_gain`` before returning. Both callbacks
        must return at once: they run on the heartbeat.
        """

    def step_down(self, why: str) -> None:
        """Give leadership up (the leader's parts could not start) and let another win."""

    def stop(self) -> None:
        """Give leadership up (if held) and stop watching."""


class SoleLeader:
    """The only instance there is (JSON store): leader from start to stop.

    With ``lock_path`` it holds an exclusive lock on that file while it leads, so a
    second ``run`` on the same data directory stops at start instead of sending every
    alert a second time.
    """

    def __init__(self, instance: str | None = None, *, lock_path: Path | None = None) -> None:
        self.instance = instance or instance_name()
        self._leader = False
        self._lock_path = lock_path
        self._lock_file: IO[str] | None = None
        self.lease = Lease()
        self._on_loss: Callable[[], None] = _nothing

    @property
    def is_leader(self) -> bool:
        """True between start and stop."""
        return self._leader

    def start(self, on_gain: Callable[[], None], on_loss: Callable[[], None]) -> None:
        """Lead at once; EpmPulseError when another run already leads this data directory."""
        if self._lock_path is not None:
            self._lock_file = _hold(self._lock_path, self.instance)
        self._leader = True
        self._on_loss = on_loss
        self.lease.hold_forever()
        self.lease.on_lost = self.step_down
        on_gain()

    def step_down(self, why: str) -> None:
        """Stop leading; with no other instance to take over, nothing runs the parts."""
        if self._leader:
            logger.error("leadership given up by %s: %s", self.instance, why)
            self._leader = False
            self.lease.end()
            self._on_loss()

    def stop(self) -> None:
        """Stop leading and let the data directory go."""
        self._leader = False
        self.lease.end()
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the lock
            self._lock_file = None


def _hold(path: Path, instance: str) -> IO[str]:
    import portalocker

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # private, like every data file
    handle = os.fdopen(fd, "r+", encoding="utf-8")
    try:
        portalocker.lock(handle, portalocker.LOCK_EX | portalocker.LOCK_NB)
    except portalocker.exceptions.LockException:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise EpmPulseError(
            f"another epmpulse run ({holder}) already serves {path.parent}; stop it first. "
            "Several instances need a shared database (EPMPULSE_DATABASE_URL)."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(instance)
    handle.flush()
    return handle


class PostgresLeadership:
    """Leader election through a PostgreSQL advisory lock on a dedicated connection."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 10.0,
        instance: str | None = None,
        on_change: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.instance = instance or instance_name()
        self._url = url
        self.beat = min(MAX_BEAT_SECONDS, timeout_seconds / 5)
        # How long a confirmed beat lets the leader act (see the module docs). A new
        # leader waits twice that after winning the lock: an old leader's lease has run
        # out, and so has any write it sent just before (the leased client caps a write's
        # wait at the lease left).
        self.lease_seconds = timeout_seconds / 3
        self.grace = 2 * self.lease_seconds
        self._timeout = timeout_seconds
        self._on_change = on_change
        self._clock = clock
        self.lease = Lease(clock)
        self.lease.on_lost = self.step_down
        self._conn: Any = None
        self._leader = False
        self._changing = threading.RLock()  # one beat or step-down at a time
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_gain: Callable[[], None] = _nothing
        self._on_loss: Callable[[], None] = _nothing
        self.beats = 0  # beats done, so that a test can wait for beats instead of time

    @property
    def is_leader(self) -> bool:
        """Whether this instance holds the lock (as of the last beat)."""
        return self._leader

    def start(self, on_gain: Callable[[], None], on_loss: Callable[[], None]) -> None:
        """Try once now (leading before returning when the lock is free), then keep watching."""
        self._on_gain, self._on_loss = on_gain, on_loss
        self._beat()
        self._thread = threading.Thread(target=self._watch, name="leader", daemon=True)
        self._thread.start()

    def step_down(self, why: str) -> None:
        """End the lease, stop the parts and close the session, so another instance wins."""
        with self._changing:
            if self._leader:
                self._lose(why)
                self._disconnect()

    def stop(self) -> None:
        """Stop watching and release the lock by closing the session."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout)
        with self._changing:
            if self._leader:
                self._lose("stopping")
            self._disconnect()

    def _watch(self) -> None:
        while not self._stopping.wait(self.beat):
            self._beat()

    def _beat(self) -> None:
        self._step()
        self.beats += 1

    def _step(self) -> None:
        """One beat: a leader checks its session and renews its lease; others try the lock."""
        with self._changing:
            sent = self._clock()
            try:
                if self._leader:
                    if not self.query(_HELD_SQL):
                        self._lose("the leader lock is no longer held by this session")
                        self._disconnect()
                        return
                    if not self.lease.fresh:
                        # The lease ran out before this beat came back: the parts may have
                        # stopped on it. Start over, with a new epoch and fresh parts.
                        self._lose("the lease ran out before the heartbeat was confirmed")
                        self._disconnect()
                        return
                    self.lease.renew(sent + self.lease_seconds)
                    return
                if not self.query(_LOCK_SQL):
                    return
            except StoreError as exc:
                if self._leader:  # stop the scheduled work first, then let the session go
                    self._lose(f"lost the database: {exc}")
                self._disconnect()
                return
        # Won: wait until the lease of any old leader has run out (outside the lock, so
        # stop() is not held up).
        if self._stopping.wait(self.grace):
            self._disconnect()
            return
        with self._changing:
            sent = self._clock()
            try:
                held = self.query(_HELD_SQL)
            except StoreError:
                held = False
            if not held:  # the session died while waiting (a reconnect holds no lock)
                self._disconnect()
                return
            self.lease.renew(sent + self.lease_seconds)
            self._gain()

    def _gain(self) -> None:
        self._leader = True
        logger.info("leadership gained by %s", self.instance)
        self._changed(True)
        self._on_gain()

    def _lose(self, why: str) -> None:
        self.lease.end()  # first: nothing is sent from here on
        self._leader = False
        level = logging.INFO if self._stopping.is_set() else logging.WARNING
        logger.log(level, "leadership lost by %s: %s", self.instance, why)
        self._changed(False)
        try:
            self._on_loss()
        except Exception:
            logger.exception("stopping the leader parts failed on %s", self.instance)

    def _changed(self, leader: bool) -> None:
        if self._on_change is not None:
            self._on_change(leader)

    def query(self, sql: str) -> bool:
        """Run one beat's lock query on the leader's own session (opened on demand).

        Every beat goes through here, so the fault suite holds a beat by overriding it.
        """
        import psycopg

        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            row = self._conn.execute(sql).fetchone()
        except psycopg.Error as exc:
            raise StoreError(str(exc).strip()) from exc
        return bool(row and row[0])

    def _connect(self) -> Any:
        import psycopg

        from bot.database import conninfo

        idle = max(1, int(self._timeout / 3))
        settings = conninfo(
            self._url,
            keepalives_idle=idle,
            keepalives_interval=1,
            keepalives_count=2,
            # Unacknowledged heartbeats fail the leader well before the server gives the
            # lock away (its keepalives, set below, need idle + 2 intervals).
            tcp_user_timeout=int(self._timeout * 1000 / 3),
            application_name=f"epmpulse-leader {self.instance}",
        )
        conn = psycopg.connect(settings, autocommit=True)
        for name, value in (
            ("tcp_keepalives_idle", idle),
            ("tcp_keepalives_interval", 1),
            ("tcp_keepalives_count", 2),
            # The server's side of a vanished host with data in flight: without it the
            # lock would stay held for the kernel's retransmission time (~15 min).
            ("tcp_user_timeout", int(self._timeout * 1000 / 3)),
            ("statement_timeout", int(self._timeout * 1000 / 3)),
        ):
            conn.execute("SELECT set_config(%s, %s, false)", (name, str(value)))
        return conn

    def _disconnect(self) -> None:
        import psycopg

        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:  # already broken: nothing to release
                logger.debug("leader connection was already closed")

    def __repr__(self) -> str:
        return f"PostgresLeadership({self.instance!r}, leader={self._leader})"


def build_leadership(config: Config) -> Leadership:
    """PostgreSQL election with ``EPMPULSE_DATABASE_URL``; otherwise this run always leads."""
    settings = config.settings
    if settings.database_url is None:
        return SoleLeader(lock_path=settings.data_dir / RUN_LOCK_FILE)
    return PostgresLeadership(
        settings.database_url.get_secret_value(), timeout_seconds=settings.leader_timeout_seconds
    )


def _nothing() -> None:
    return None
