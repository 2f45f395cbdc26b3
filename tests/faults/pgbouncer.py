"""A private PgBouncer on loopback in front of the test PostgreSQL (SPEC §15 "Poolers").

:class:`PgBouncer` writes a configuration in a temp dir, starts ``pgbouncer`` on a free
127.0.0.1 port in the pool mode asked for, waits until it accepts connections and stops
it at the end. It never uses a system PgBouncer (Debian's package may start one on
6432): every instance has its own port, files and process.

Every database name is forwarded to the test server (``* =``), so a test can use a
database of its own: PgBouncer does not pass the ``options`` startup parameter on, so a
per-test schema on the search path (``schema_url``) would not reach the server.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from bot.sandbox.serving import Serving
from tests.conftest import POSTGRES_URL, wait_until

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
# Debian installs it in /usr/sbin, which is not on every user's PATH.
SEARCH_PATH = f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin{os.pathsep}/usr/local/sbin"


@functools.cache
def pgbouncer_binary() -> str | None:
    """The ``pgbouncer`` executable, or None when it is not installed."""
    return shutil.which("pgbouncer", path=SEARCH_PATH)


def require_pgbouncer() -> str:
    """The ``pgbouncer`` executable; skip without it — but fail under CI, where it must be."""
    binary = pgbouncer_binary()
    if binary is not None:
        return binary
    problem = "pgbouncer is not installed (Debian: apt-get install pgbouncer)"
    if os.environ.get("CI"):
        pytest.fail(f"PgBouncer is required when CI is set: {problem}", pytrace=False)
    pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class PgBouncer(Serving):
    """One private ``pgbouncer`` process in ``pool_mode`` (transaction or session)."""

    def __init__(self, pool_mode: str, *, pool_size: int = 4) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="epmpulse-pgbouncer-"))
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    def url(self, dbname: str) -> str:
        """A URL reaching ``dbname`` on the test server through this PgBouncer."""
        return f"postgresql://{_server()['user']}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> PgBouncer:
        """Write the configuration, start PgBouncer and wait until it accepts connections."""
        binary = require_pgbouncer()
        ini = self.directory / "pgbouncer.ini"
        # auth_type = trust still needs the user listed.
        userlist = f'"{_server()["user"]}" ""\n'
        (self.directory / "userlist.txt").write_text(userlist, encoding="utf-8")
        ini.write_text(self._config(), encoding="utf-8")
        command = [binary, str(ini)]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root; it switches to the server's own user, who
            # must reach the directory (it lives in the shared temp dir, not in pytest's
            # private tmp_path) and write its log and pid file there.
            shutil.chown(self.directory, "postgres")
            command = [binary, "-u", "postgres", str(ini)]
        with (self.directory / "stderr.log").open("wb") as output:
            self._proc = subprocess.Popen(command, stdout=output, stderr=output)
        # Its own log line, not just an open port: another process may have taken the port.
        proc = self._proc

        def listening() -> bool:
            assert proc.poll() is None, "pgbouncer exited"
            return f"listening on 127.0.0.1:{self.port}" in self._log() and _accepts(self.port)

        try:
            wait_until(listening, f"pgbouncer to listen on port {self.port}", START_TIMEOUT, 0.05)
        except AssertionError as exc:
            log = self._log()
            self.stop()
            raise AssertionError(f"{exc}; pgbouncer did not start:\n{log}") from None
        return self

    def _log(self) -> str:
        return (self.directory / "stderr.log").read_text(errors="replace")

    def stop(self) -> None:
        """Stop PgBouncer (SIGTERM, then SIGKILL if it lingers) and remove its directory."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _config(self) -> str:
        server = _server()
        return f"""\
[databases]
* = host={server["host"]} port={server["port"]}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.directory / "userlist.txt"}
pool_mode = {self.pool_mode}
default_pool_size = {self.pool_size}
max_client_conn = 100
pidfile = {self.directory / "pgbouncer.pid"}
ignore_startup_parameters = extra_float_digits
"""


@functools.cache
def _server() -> dict[str, str]:
    """The test server's host, port and user (from ``EPMPULSE_TEST_DATABASE_URL``)."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(POSTGRES_URL)
    return {
        "host": str(params.get("host") or "127.0.0.1"),
        "port": str(params.get("port") or 5432),
        "user": str(params.get("user") or "postgres"),
    }
