"""A loopback TCP proxy that can cut a database off and bring it back (SPEC §15).

:class:`TcpProxy` forwards ``127.0.0.1:port`` to a target (the test PostgreSQL) on one
thread, with a selector over every socket. :meth:`TcpProxy.cut` closes every forwarded
connection and the listening socket, so new connections are refused, as when the
server is down; :meth:`TcpProxy.restore` listens again on the same port. The thread is
bounded: it ends at :meth:`TcpProxy.stop` or after ``lifetime`` seconds, whichever
comes first, and closes everything it opened.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time

from bot.sandbox.serving import Serving

CHUNK = 65536
TICK = 0.05  # how often the thread looks at the clock and at cut()/stop()


class TcpProxy(Serving):
    """Forwards ``127.0.0.1:port`` to ``target``; ``cut()`` and ``restore()`` the link."""

    def __init__(
        self, target: tuple[str, int] = ("127.0.0.1", 5432), *, lifetime: float = 600.0
    ) -> None:
        self.target = target
        self._lifetime = lifetime
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._peers: dict[socket.socket, socket.socket] = {}
        self._listener: socket.socket | None = self._listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcpproxy", daemon=True)

    @property
    def connections(self) -> int:
        """Forwarded connections open right now."""
        with self._lock:
            return len(self._peers) // 2

    def start(self) -> TcpProxy:
        """Start forwarding."""
        self._thread.start()
        return self

    def cut(self) -> None:
        """Close every forwarded connection and refuse new ones until :meth:`restore`."""
        with self._lock:
            self._close_listener()
            for sock in list(self._peers):
                self._drop(sock)

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        with self._lock:
            if self._listener is None and not self._stopping.is_set():
                self._listener = self._listen(self.port)

    def stop(self) -> None:
        """Close everything and end the thread."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._shut_down()

    # --- the forwarding thread -------------------------------------------------------

    def _run(self) -> None:
        deadline = time.monotonic() + self._lifetime
        try:
            while not self._stopping.is_set() and time.monotonic() < deadline:
                # The selector is only changed under the lock; a socket closed between
                # select() and here is no longer registered and is skipped.
                for key, _ in self._selector.select(timeout=TICK):
                    with self._lock:
                        sock = key.fileobj
                        assert isinstance(sock, socket.socket)
                        if sock is self._listener:
                            self._accept(sock)
                        elif sock in self._peers:
                            self._forward(sock)
        finally:
            self._shut_down()

    def _accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, server):
            sock.setblocking(True)
            sock.settimeout(5)
            self._selector.register(sock, selectors.EVENT_READ)
        self._peers[client] = server
        self._peers[server] = client

    def _forward(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(CHUNK)
            if data:
                self._peers[sock].sendall(data)
                return
        except OSError:
            pass
        self._drop(sock)  # end of stream or an error: close both ends

    def _drop(self, sock: socket.socket) -> None:
        if sock not in self._peers:
            return  # already closed with its peer
        for one in (sock, self._peers[sock]):
            del self._peers[one]
            self._selector.unregister(one)
            with contextlib.suppress(OSError):  # the peer may have gone first
                one.shutdown(socket.SHUT_RDWR)
            one.close()

    # --- listening -----------------------------------------------------------------

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        listener.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ)
        return listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._selector.unregister(self._listener)
            self._listener.close()
            self._listener = None

    def _shut_down(self) -> None:
        with self._lock:
            self._stopping.set()
            self._close_listener()
            for sock in list(self._peers):
                self._drop(sock)
