"""What every sandbox server shares: a `with` block, serving on a daemon thread, and
the gate that holds a request until the test lets it go."""

from __future__ import annotations

import socketserver
import threading
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Serving(ABC):
    """A server started by ``start()`` and stopped by ``stop()``; a `with` block does both."""

    @abstractmethod
    def start(self) -> Self:
        """Start serving and return the server itself."""

    @abstractmethod
    def stop(self) -> None:
        """Stop serving; a second call does nothing."""

    def __enter__(self) -> Self:
        """Start the server for a `with` block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server at the end of a `with` block."""
        self.stop()


def serve_in_thread(
    server: socketserver.BaseServer, name: str, poll_interval: float = 0.05
) -> threading.Thread:
    """Run ``server.serve_forever`` on a started daemon thread named ``name``.

    ``poll_interval`` bounds how long ``server.shutdown()`` waits for the loop to notice.
    """
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": poll_interval},
        name=name,
        daemon=True,
    )
    thread.start()
    return thread


class Gate:
    """Holds a request until the test releases it: the "server answering slowly" fault.

    ``arrived`` is set when the request reaches the sandbox (it was sent), ``release()``
    lets it go on; stopping the sandbox lets every held request go.
    """

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self._released = threading.Event()

    def release(self) -> None:
        """Let the held call (and any later one through this gate) be answered."""
        self._released.set()

    def pass_through(self, stopping: threading.Event, poll: float = 0.05) -> None:
        """Block the calling request until released or the sandbox stops."""
        self.arrived.set()
        while not self._released.wait(poll) and not stopping.is_set():
            pass
