"""The JSON store's inter-process lock: portalocker on ``.lock``, with a bounded wait.

A process that hangs while holding the lock must not hang every other writer with it:
after ``timeout`` seconds the wait ends with a :class:`~bot.errors.StoreError` whose
reason is ``lock timeout`` (the REST API answers it 503 ``STORE_UNAVAILABLE``; nothing
was changed).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import portalocker

from bot.errors import StoreError
from bot.store import files

DEFAULT_TIMEOUT_SECONDS = 10.0
CHECK_INTERVAL_SECONDS = 0.01


class FileLock:
    """An exclusive lock on one file, taken and released with ``with``; not re-entrant."""

    def __init__(self, path: Path, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.path = path
        self.timeout = timeout
        path.touch(mode=files.FILE_MODE, exist_ok=True)
        self._lock = portalocker.Lock(
            path,
            mode="a",
            timeout=timeout,
            check_interval=CHECK_INTERVAL_SECONDS,
            fail_when_locked=False,
            flags=portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING,
        )

    def __enter__(self) -> None:
        try:
            self._lock.acquire()
        except portalocker.LockException as exc:
            raise StoreError(
                f"{self.path} is held by another process for over {self.timeout:g} s",
                reason="lock timeout",
            ) from exc

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._lock.release()
