"""The REST API as a part of ``epmpulse run``: uvicorn serving the app in a thread.

:meth:`ApiPart.start` binds the socket itself, in the caller's thread, so a port
that is taken stops start-up at once with a clear message; uvicorn then serves on
that socket in a daemon thread. :meth:`ApiPart.stop` asks uvicorn to finish and
waits a bounded time.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from bot.api.app import create_api_for
from bot.epm.launch import JobLauncher
from bot.errors import ConfigError
from bot.parts import Check, Host

logger = logging.getLogger(__name__)

START_TIMEOUT = 10.0
GRACEFUL_SECONDS = 5


class ApiPart:
    """Serves the REST API on ``host:port`` (port 0 picks a free port)."""

    name = "api"

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        graceful_seconds: int = GRACEFUL_SECONDS,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._graceful_seconds = graceful_seconds
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_runtime(cls, runtime: Host, *, launcher: JobLauncher | None = None) -> ApiPart:
        """The API of ``runtime`` on EPMPULSE_HTTP_HOST / EPMPULSE_HTTP_PORT."""
        settings = runtime.config.settings
        app = create_api_for(runtime, launcher=launcher)
        return cls(app, settings.http_host, settings.http_port)

    @property
    def url(self) -> str:
        """The base URL the API is reachable at (with the real port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind, start serving, and return once uvicorn accepts connections.

        Raises ConfigError when the address cannot be bound (e.g. the port is taken).
        """
        sock = self._bind()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,  # the process's own logging set-up stays in charge
            access_log=False,  # bot.api.observe logs one line per request
            lifespan="off",
            server_header=False,
            proxy_headers=False,  # the API never uses the client address
            timeout_graceful_shutdown=self._graceful_seconds,
            # uvloop and httptools (uvicorn[standard]) when installed, else asyncio and h11.
            loop="auto",
            http="auto",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="epmpulse-api", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError(f"the REST API did not start on {self.url}; see the log above")
            time.sleep(0.01)
        logger.info(
            "REST API listening on %s (%s; docs at %s/api/v1/docs)",
            self.url,
            self.engine(),
            self.url,
        )

    def stop(self) -> None:
        """Stop accepting requests, let running ones finish, and wait a bounded time."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(self._graceful_seconds + 2)
        if thread.is_alive():
            server.force_exit = True
            thread.join(2)
            logger.warning("REST API did not stop in time; its connections were dropped")
        self._server = self._thread = None

    def engine(self) -> str:
        """The event loop and HTTP parser uvicorn serves with, e.g. ``uvloop + httptools``."""
        server = self._server
        if server is None or not server.started or not server.servers:
            return "not started"
        loop = type(server.servers[0].get_loop()).__module__.split(".")[0]  # uvloop, asyncio
        parser = server.config.http_protocol_class.__name__.removesuffix("Protocol").lower()
        return f"{loop} + {parser}"

    def health(self) -> Check:
        """Whether uvicorn is serving."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return Check(False, "not started")
        if not thread.is_alive() or not server.started or server.should_exit:
            return Check(False, f"not serving on {self.url}")
        return Check(True, f"serving on {self.url}")

    def _bind(self) -> socket.socket:
        try:
            infos = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
        except socket.gaierror as exc:
            raise ConfigError(
                [f"EPMPULSE_HTTP_HOST: cannot resolve '{self.host}': {exc.strerror}"]
            ) from exc
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(2048)
            sock.set_inheritable(True)
        except OSError as exc:
            sock.close()
            why = (
                "the port is already in use (is another epmpulse running?)"
                if exc.errno == errno.EADDRINUSE
                else exc.strerror
            )
            raise ConfigError(
                [
                    f"EPMPULSE_HTTP_HOST/EPMPULSE_HTTP_PORT: cannot listen on "
                    f"{self.host}:{self.port}: {why}"
                ]
            ) from exc
        return sock
