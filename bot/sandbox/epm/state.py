"""Everything an EPM sandbox request handler reads and changes, behind one object."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

from bot.sandbox.epm.auth import OAuthServer, same
from bot.sandbox.epm.faults import Faults
from bot.sandbox.epm.jobs import JobKey, JobState, ScriptedJob, job_key
from bot.sandbox.epm.log import RequestLog
from bot.sandbox.epm.starts import Starts


class SandboxState:
    """Shared, thread-safe state of one sandbox: credentials, jobs, faults, log, connections."""

    def __init__(
        self,
        *,
        username: str,
        password: str,
        latency: float,
        expires_in: int,
        clock: Callable[[], float],
        applications: tuple[str, ...] = ("Vision",),
    ) -> None:
        self.username = username
        self.applications = applications  # what GET .../rest/v3/applications lists
        self.password = password
        self.base_url = ""
        self.oauth = OAuthServer(expires_in=expires_in, clock=clock)
        self.faults = Faults(latency)
        self.log = RequestLog()
        self.starts = Starts()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._jobs: dict[JobKey, ScriptedJob] = {}
        self._connections: dict[int, tuple[threading.Thread, socket.socket]] = {}
        self.connections_opened = 0

    def basic_ok(self, user: str, password: str) -> bool:
        """Tell whether HTTP Basic credentials match the configured user."""
        return same(user, self.username) & same(password, self.password)

    def put_job(self, job: ScriptedJob) -> None:
        """Add or replace a scripted job."""
        with self._lock:
            self._jobs[job_key(job.kind, job.job_id, job.app)] = job

    def get_job(self, key: JobKey) -> ScriptedJob | None:
        """Return the job stored under `key`, if any."""
        with self._lock:
            return self._jobs.get(key)

    def has_app(self, app: str | None) -> bool:
        """Tell whether any Planning/FCCS job is registered under application `app`."""
        with self._lock:
            return any(family == "hyperion" and name == app for family, name, _ in self._jobs)

    def poll_job(self, key: JobKey) -> tuple[ScriptedJob, JobState] | None:
        """Serve one poll of the job under `key`: its state now, advancing its script."""
        with self._lock:
            job = self._jobs.get(key)
            return None if job is None else (job, job.advance())

    def track(self, conn: socket.socket) -> None:
        """Remember the calling handler thread and its connection so stop can end them."""
        with self._lock:
            self._connections[id(conn)] = (threading.current_thread(), conn)
            self.connections_opened += 1
        if self.stopping.is_set():
            close_quietly(conn)

    def untrack(self, conn: socket.socket) -> None:
        """Forget a finished connection."""
        with self._lock:
            self._connections.pop(id(conn), None)

    def close_connections(self, timeout: float) -> None:
        """Shut every open connection down and join the handler threads, all within `timeout`."""
        with self._lock:
            open_now = list(self._connections.values())
        for _, conn in open_now:
            close_quietly(conn)
        deadline = time.monotonic() + timeout
        for thread, _ in open_now:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))


def close_quietly(conn: socket.socket) -> None:
    """Shut a socket down both ways; a socket that is already closed is fine."""
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
