"""The Socket Mode side of the sandbox: a WebSocket server speaking Slack's envelope protocol.

``apps.connections.open`` hands out single-use ``ws://127.0.0.1:<port>/link/?ticket=...``
URLs. A connection gets ``hello`` first; envelopes go to the newest live connection that
was not told to ``disconnect``; acks (``{"envelope_id", "payload"?}``) are matched by id on
any connection, because a client may answer over its replacement connection. Pings are
answered by the ``websockets`` library.
"""

from __future__ import annotations

import json
import logging
import secrets
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from bot.sandbox.slack.errors import AckTimeout
from bot.sandbox.slack.records import Ack, Identity

logger = logging.getLogger(__name__)


@dataclass
class _Connection:
    serial: int
    websocket: ServerConnection
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    alive: bool = True
    draining: bool = False

    def send(self, message: dict[str, Any]) -> None:
        """Send one JSON text frame (one sender at a time)."""
        with self.send_lock:
            self.websocket.send(json.dumps(message))


@dataclass
class _Pending:
    type: str
    done: threading.Event = field(default_factory=threading.Event)
    sent_at: float = 0.0
    received_at: float = 0.0
    payload: dict[str, Any] | None = None


class SocketModeServer:
    """WebSocket endpoint plus the bookkeeping of connections and unacknowledged envelopes."""

    def __init__(
        self, identity: Identity, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> None:
        self._identity = identity
        self._host = host
        self._tls = tls  # with a server context: wss://, as Slack serves it
        self._cond = threading.Condition()
        self._tickets: set[str] = set()
        self._connections: list[_Connection] = []
        self._turn = 0  # round-robin position over open connections
        self._pending: dict[str, _Pending] = {}
        self._serial = 0
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self.stray_acks: list[dict[str, Any]] = []

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Listen on a free loopback port and serve in a daemon thread."""
        self._server = serve(
            self._serve_connection,
            self._host,
            0,
            process_request=self._check_ticket,
            compression=None,
            close_timeout=1,
            ping_interval=20,
            ping_timeout=20,
            ssl=self._tls,
        )
        self._port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="slack-sandbox-socket", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close every connection, stop listening, fail waiting deliveries, join the thread."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._cond:
            for pending in self._pending.values():
                pending.done.set()
            self._cond.notify_all()

    # -- connections ---------------------------------------------------------------------

    def issue_url(self) -> str:
        """A fresh single-use WebSocket URL (what ``apps.connections.open`` returns)."""
        ticket = secrets.token_urlsafe(16)
        with self._cond:
            self._tickets.add(ticket)
        scheme = "wss" if self._tls is not None else "ws"
        return (
            f"{scheme}://{self._host}:{self._port}/link/"
            f"?ticket={ticket}&app_id={self._identity.app_id}"
        )

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        ticket = (parse_qs(url.query).get("ticket") or [""])[0]
        with self._cond:
            valid = url.path.rstrip("/") == "/link" and ticket in self._tickets
            self._tickets.discard(ticket)
        if valid:
            return None
        logger.warning("slack sandbox refused a WebSocket with an unknown or used ticket")
        return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")

    def _serve_connection(self, websocket: ServerConnection) -> None:
        with self._cond:
            self._serial += 1
            connection = _Connection(self._serial, websocket)
        try:
            connection.send(self._hello())
            with self._cond:
                self._connections.append(connection)
                replaced = [c for c in self._connections if c.draining and c.alive]
                self._cond.notify_all()
            if replaced:
                # Slack drops a connection it asked to disconnect once its successor is up.
                threading.Thread(
                    target=self._close, args=(replaced,), name="slack-sandbox-close", daemon=True
                ).start()
            logger.info("slack sandbox: socket mode connection %d opened", connection.serial)
            for raw in websocket:
                self._receive(connection, raw)
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                connection.alive = False
                self._cond.notify_all()
            logger.info("slack sandbox: socket mode connection %d closed", connection.serial)

    def _hello(self) -> dict[str, Any]:
        with self._cond:
            live = sum(1 for c in self._connections if c.alive) + 1
        return {
            "type": "hello",
            "num_connections": live,
            "debug_info": {
                "host": "applink-sandbox",
                "build_number": 1,
                "approximate_connection_time": 3600,
            },
            "connection_info": {"app_id": self._identity.app_id},
        }

    def _receive(self, connection: _Connection, raw: str | bytes) -> None:
        received_at = time.perf_counter()
        try:
            message = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            logger.warning("slack sandbox: connection %d sent non-JSON", connection.serial)
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self._cond:
            pending = self._pending.pop(envelope_id, None) if isinstance(envelope_id, str) else None
            if pending is None:
                self.stray_acks.append(message if isinstance(message, dict) else {"_raw": message})
                logger.warning("slack sandbox: unexpected message %r", message)
                return
            payload = message.get("payload")
            pending.payload = payload if isinstance(payload, dict) else None
            pending.received_at = received_at
            pending.done.set()

    def _spread(self) -> _Connection | None:
        """The next usable connection in turn: Slack spreads envelopes across them."""
        usable = [c for c in self._connections if c.alive and not c.draining]
        if not usable:
            return None
        self._turn += 1
        return usable[self._turn % len(usable)]

    def _newest(self, newer_than: int = 0) -> _Connection | None:
        usable = [c for c in self._connections if c.alive and not c.draining]
        usable = [c for c in usable if c.serial > newer_than]
        return usable[-1] if usable else None

    @property
    def connection_count(self) -> int:
        """How many WebSocket connections are open right now."""
        with self._cond:
            return sum(1 for c in self._connections if c.alive)

    @property
    def connections_opened(self) -> int:
        """How many WebSocket connections were ever accepted."""
        with self._cond:
            return len(self._connections)

    def wait_connected(self, timeout: float, newer_than: int = 0) -> int:
        """Wait for a usable connection (newer than serial ``newer_than``); its serial."""
        with self._cond:
            connection = self._cond.wait_for(lambda: self._newest(newer_than), timeout)
        if connection is None:
            raise TimeoutError(f"no Socket Mode connection within {timeout:g}s")
        return connection.serial

    def send_disconnect(self, reason: str, timeout: float) -> int:
        """Tell the newest connection to go away; its serial."""
        self.wait_connected(timeout)
        with self._cond:
            connection = self._newest()
            if connection is None:
                raise TimeoutError("the Socket Mode connection went away")
            connection.draining = True
        message = {
            "type": "disconnect",
            "reason": reason,
            "debug_info": {"host": "applink-sandbox"},
        }
        try:
            connection.send(message)
        except ConnectionClosed:
            logger.info("slack sandbox: connection %d closed before disconnect", connection.serial)
        return connection.serial

    def close_connections(self) -> int:
        """Close every open connection from the server side (code 1001); how many."""
        with self._cond:
            connections = [c for c in self._connections if c.alive]
        self._close(connections)
        return len(connections)

    @staticmethod
    def _close(connections: list[_Connection]) -> None:
        for connection in connections:
            connection.websocket.close(1001, "going away")

    # -- envelopes -----------------------------------------------------------------------

    def deliver(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool,
        timeout: float,
    ) -> Ack:
        """Send one envelope and wait for its ack; ``AckTimeout`` if none comes in time."""
        deadline = time.monotonic() + timeout
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if envelope_type == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        pending = _Pending(envelope_type)
        self._send_spread(envelope_id, envelope, pending, deadline)
        pending.done.wait(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._pending.pop(envelope_id, None)
        if not pending.received_at:
            raise AckTimeout(f"no ack for {envelope_type} envelope {envelope_id} in {timeout:g}s")
        latency = pending.received_at - pending.sent_at
        return Ack(envelope_id, envelope_type, pending.payload, latency)

    def _send_spread(
        self, envelope_id: str, envelope: dict[str, Any], pending: _Pending, deadline: float
    ) -> None:
        while True:
            with self._cond:
                connection = self._cond.wait_for(
                    self._spread, max(0.0, deadline - time.monotonic())
                )
                if connection is None:
                    raise AckTimeout(f"no Socket Mode connection to deliver {envelope['type']}")
                self._pending[envelope_id] = pending
            pending.sent_at = time.perf_counter()
            try:
                connection.send(envelope)
                return
            except ConnectionClosed:
                with self._cond:
                    connection.alive = False
                    self._pending.pop(envelope_id, None)
