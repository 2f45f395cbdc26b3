"""A tiny forward HTTP proxy on loopback that records what it forwarded.

The corporate proxy of the sandbox world: the proxy tests and ``bench/poll.py`` send
EPM, Slack Web API and Socket Mode traffic through it. It forwards absolute-URI
requests (``GET http://host/path``) and tunnels ``CONNECT``
(how Socket Mode and HTTPS go through a proxy). Every connection it serves is bounded:
the tunnel relays until either side closes or the proxy stops.
"""

from __future__ import annotations

import http.client
import logging
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from bot.sandbox.serving import Serving, serve_in_thread

TIMEOUT = 5.0


logger = logging.getLogger(__name__)


class Forwarded(NamedTuple):
    """One request the proxy handled: its method, target, and Proxy-Authorization."""

    method: str
    target: str  # the absolute URL, or host:port for CONNECT
    authorization: str | None


class ForwardProxy(Serving):
    """A forward proxy on 127.0.0.1; ``url`` is its address, ``seen`` what it forwarded."""

    def __init__(self) -> None:
        self.seen: list[Forwarded] = []
        self.stopping = threading.Event()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def targets(self) -> list[str]:
        """The targets forwarded so far, in order."""
        return [f.target for f in list(self.seen)]

    def start(self) -> ForwardProxy:
        """Serve on a daemon thread; a proxy starts only once."""
        if self._thread is not None or self.stopping.is_set():
            raise RuntimeError("a ForwardProxy can be started only once")
        self._thread = serve_in_thread(self._server, "forward-proxy")
        return self

    def stop(self) -> None:
        """End open tunnels, stop serving and join the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        thread.join(TIMEOUT)


class _QuietServer(ThreadingHTTPServer):
    """The proxy's server: a client hanging up mid-tunnel is logged, not printed."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log the failed connection at debug level (socketserver would print it)."""
        logger.debug("forward proxy: connection from %s ended with an error", client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: ForwardProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: callers look at ``seen``."""

    def _record(self) -> None:
        self.owner.seen.append(
            Forwarded(self.command, self.path, self.headers.get("Proxy-Authorization"))
        )

    def _forward(self) -> None:
        self._record()
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("proxy-authorization", "proxy-connection", "connection")
        }
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=TIMEOUT)
        try:
            upstream.request(self.command, path or "/", body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def do_CONNECT(self) -> None:
        """Tunnel bytes both ways until either side closes or the proxy stops."""
        self._record()
        host, _, port = self.path.rpartition(":")
        upstream = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        client = self.connection
        try:
            while not self.owner.stopping.is_set():
                ready, _, _ = select.select([client, upstream], [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            return
        finally:
            upstream.close()
