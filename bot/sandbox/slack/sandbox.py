"""``SlackSandbox``: the public face of the strict Slack emulator used by tests and the demo.

This module builds the parts and runs them; what a test can do with a running sandbox
lives in three mixins: ``control`` (arrange members, canvases, limits and faults),
``actions`` (users' commands, shortcuts, clicks and submissions over Socket Mode) and
``observe`` (recorded calls and Slack-side state).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable

from bot.sandbox.serving import Serving, serve_in_thread
from bot.sandbox.slack.actions import (
    DEFAULT_CHANNEL_ID,
    DEFAULT_COMMAND,
    DEFAULT_USER_ID,
    UserActions,
)
from bot.sandbox.slack.control import SandboxControl
from bot.sandbox.slack.faults import FaultPlan
from bot.sandbox.slack.file_view import FilesView, install_files
from bot.sandbox.slack.observe import Observations
from bot.sandbox.slack.ratelimit import RateLimiter
from bot.sandbox.slack.records import Identity
from bot.sandbox.slack.server import ApiBackend, ApiHttpServer
from bot.sandbox.slack.socket_mode import SocketModeServer
from bot.sandbox.slack.webapi import WebApi
from bot.sandbox.slack.workspace import Workspace

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_CHANNEL_ID", "DEFAULT_COMMAND", "DEFAULT_USER_ID", "SlackSandbox"]


class SlackSandbox(Serving, SandboxControl, UserActions, Observations):
    """A strict Slack on loopback: Web API over HTTP, Socket Mode over WebSocket.

    Thread-safe; every wait is bounded by a timeout. Use as a context manager or call
    ``start()``/``stop()``.
    """

    def __init__(
        self,
        bot_token: str = "xoxb-sandbox",  # noqa: S107  (fake loopback token)
        app_token: str = "xapp-sandbox",  # noqa: S107  (fake loopback token)
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        trigger_ttl: float = 3.0,
        rate_limits: bool = True,
        rate_scale: float = 1.0,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        socket_tls: ssl.SSLContext | None = None,
    ) -> None:
        """``socket_tls``, a server SSL context, makes Socket Mode ``wss://`` as on Slack
        (slack_sdk speaks TLS inside a proxy tunnel, so the proxy tests need it)."""
        self.identity = Identity(bot_token=bot_token, app_token=app_token)
        self._workspace = Workspace(self.identity, clock, trigger_ttl)
        self._limiter = RateLimiter(
            clock, enabled=rate_limits, rate_scale=rate_scale, window_seconds=window_seconds
        )
        self._faults = FaultPlan()
        self._stopping = threading.Event()
        self._socket = SocketModeServer(self.identity, host, socket_tls)
        self._address = (host, port)
        self._http: ApiHttpServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SlackSandbox:
        """Bind both servers on loopback and serve in daemon threads."""
        if self._http is not None or self._stopping.is_set():
            raise RuntimeError("a SlackSandbox can be started only once")
        self._socket.start()
        api = WebApi(self._workspace, self._socket.issue_url)
        files = install_files(api, self._workspace, lambda: self.base_url)
        backend = ApiBackend(
            self._workspace, api, self._limiter, self._faults, self._stopping, files.receive
        )
        self._http = ApiHttpServer(self._address, backend)
        host, port = self._http.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"
        self._thread = serve_in_thread(self._http, "slack-sandbox-http")
        logger.info("Slack sandbox serving at %s", self.api_url)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close connections, stop both servers and join their threads."""
        http, self._http = self._http, None
        if http is None:
            return
        self._stopping.set()
        self._socket.stop(timeout)
        http.shutdown()
        http.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._workspace.notify()
        logger.info("Slack sandbox stopped")

    @property
    def files(self) -> FilesView:
        """Uploaded files, and channels where the bot may not share them (tests set these)."""
        return FilesView(self._workspace)

    @property
    def api_url(self) -> str:
        """Base URL for ``WebClient(base_url=...)``, ending in ``/api/``."""
        return f"{self.base_url}/api/"

    @property
    def bot_token(self) -> str:
        """The only bot token the sandbox accepts."""
        return self.identity.bot_token

    @property
    def app_token(self) -> str:
        """The only app-level token the sandbox accepts (for ``apps.connections.open``)."""
        return self.identity.app_token
