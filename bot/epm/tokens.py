"""Rotated OAuth refresh tokens, persisted per EPM server under the data directory.

``EPMPULSE_DATA_DIR/tokens/<server>.json`` (mode 0600, directory 0700) holds the
newest refresh token and a fingerprint of the configured one. The file is written
atomically (temp file, fsync, rename, fsync the directory) and every refresh runs
under an exclusive lock on ``<server>.lock``, so ``epmpulse run`` and ``epmpulse
check`` never spend the same single-use token twice.

The persisted token wins over the configured one — unless the configured token has
changed since it was persisted (an operator issued a new one), then the new
configured token is used.

With several instances on PostgreSQL (SPEC §10) :class:`StoredRefreshToken` keeps the
same document in the store's meta instead, under a database lock, so a rotation is
committed — and visible to every instance — before the new token is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

import portalocker

from bot.errors import EpmError, StoreError
from bot.settings import Settings
from bot.store.base import Store, WorkingState
from bot.store.files import FILE_MODE, atomic_write, dumps, ensure_private_dir

logger = logging.getLogger(__name__)

TOKEN_DIR = "tokens"  # noqa: S105  (a directory name, not a secret)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
LOCK_TIMEOUT_SECONDS = 60.0  # a refresh holding the lock longer has hung
META_PREFIX = "epm_refresh_token:"


class RefreshTokenStorage(Protocol):
    """Where the newest refresh token of one EPM server is kept, and its lock."""

    server: str

    @property
    def location(self) -> str:
        """Where the token is kept, for people (a path, or the database)."""

    def locked(self) -> AbstractContextManager[None]:
        """Hold the lock every process and instance takes before spending the token."""

    def current(self, configured: str) -> str:
        """The refresh token to use."""

    def save(self, token: str, configured: str) -> None:
        """Durably keep ``token`` before anybody uses what came with it."""


class RefreshTokenFile:
    """The persisted refresh token of one EPM server."""

    def __init__(self, data_dir: Path, server: str) -> None:
        self.server = server
        self.directory = Path(data_dir) / TOKEN_DIR
        stem = _SAFE.sub("_", server) or "server"
        self.path = self.directory / f"{stem}.json"
        self._lock_path = self.directory / f"{stem}.lock"

    def __repr__(self) -> str:
        return f"RefreshTokenFile({str(self.path)!r})"

    @property
    def location(self) -> str:
        """The token file's path."""
        return str(self.path)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive cross-process lock of this server's token."""
        try:
            self._ensure_directories()
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise EpmError(
                f"cannot use {self.directory} for the tokens of EPM server {self.server}: "
                f"{exc.strerror}",
                permanent=True,
            ) from exc
        os.close(fd)
        lock = portalocker.Lock(self._lock_path, mode="r+", timeout=LOCK_TIMEOUT_SECONDS)
        try:
            lock.acquire()
        except portalocker.LockException as exc:
            raise EpmError(
                f"the refresh token of EPM server {self.server} stayed locked for "
                f"{LOCK_TIMEOUT_SECONDS:g} s by another process",
                permanent=False,
            ) from exc
        try:
            yield
        finally:
            lock.release()

    def _ensure_directories(self) -> None:
        """The data directory and its tokens directory, both 0700 when created here."""
        ensure_private_dir(self.directory.parent)
        ensure_private_dir(self.directory)

    def current(self, configured: str) -> str:
        """The refresh token to use: the persisted one, unless ``configured`` changed since."""
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return configured
        except (OSError, ValueError) as exc:
            raise EpmError(
                f"cannot read the refresh token of EPM server {self.server} from {self.path}: "
                f"{exc.__class__.__name__}",
                permanent=True,
            ) from exc
        return _current_token(document, configured, self.server, where=str(self.path))

    def save(self, token: str, configured: str) -> None:
        """Durably persist ``token`` (0600) before anybody uses what came with it."""
        document = {"refresh_token": token, "configured_sha256": fingerprint(configured)}
        try:
            self._ensure_directories()
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                atomic_write(self.path, dumps(document), dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise EpmError(
                f"cannot persist the rotated refresh token of EPM server {self.server} "
                f"to {self.path}: {exc.strerror}",
                permanent=True,
            ) from exc
        logger.info("EPM %s: rotated refresh token persisted to %s", self.server, self.path)


class StoredRefreshToken:
    """The persisted refresh token of one EPM server, in the shared store's meta."""

    def __init__(
        self, store: Store, server: str, lock: Callable[[str], AbstractContextManager[None]]
    ) -> None:
        self.server = server
        self._store = store
        self._lock = lock
        self.key = META_PREFIX + (_SAFE.sub("_", server) or "server")

    def __repr__(self) -> str:
        return f"StoredRefreshToken({self.server!r})"

    @property
    def location(self) -> str:
        """The database, under this server's meta key."""
        return f"the database (meta {self.key})"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the database lock of this server's token (every instance shares it)."""
        try:
            with self._lock(self.key):
                yield
        except StoreError as exc:
            raise EpmError(
                f"cannot lock the refresh token of EPM server {self.server}: {exc}",
                permanent=False,
            ) from exc

    def current(self, configured: str) -> str:
        """The stored token, unless ``configured`` changed since it was stored."""
        try:
            document: Any = self._store.snapshot().meta.get(self.key)
        except StoreError as exc:
            raise EpmError(
                f"cannot read the refresh token of EPM server {self.server}: {exc}",
                permanent=False,
            ) from exc
        if document is None:
            return configured
        return _current_token(document, configured, self.server, where="the store")

    def save(self, token: str, configured: str) -> None:
        """Commit ``token`` to the store before anybody uses what came with it."""
        document = {"refresh_token": token, "configured_sha256": fingerprint(configured)}

        def put(work: WorkingState) -> None:
            work.put_meta(self.key, document)

        try:
            self._store.commit(put)
        except StoreError as exc:
            raise EpmError(
                f"cannot store the rotated refresh token of EPM server {self.server}: {exc}",
                permanent=True,
            ) from exc
        logger.info("EPM %s: rotated refresh token stored in the database", self.server)


def token_storage(settings: Settings, server: str, store: Store | None) -> RefreshTokenStorage:
    """Where ``server``'s rotated token lives: the shared database, else the data directory."""
    lock = getattr(store, "advisory_lock", None)
    if settings.database_url is not None and store is not None and lock is not None:
        return StoredRefreshToken(store, server, lock)
    return RefreshTokenFile(settings.data_dir, server)


def fingerprint(secret: str) -> str:
    """A SHA-256 hex digest that identifies ``secret`` without revealing it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _current_token(document: object, configured: str, server: str, *, where: str) -> str:
    """The rotated token in ``document``, unless the configured one changed since."""
    token = document.get("refresh_token") if isinstance(document, dict) else None
    if not isinstance(document, dict) or not isinstance(token, str) or not token:
        raise EpmError(f"{where} holds no refresh token for {server}", permanent=True)
    if document.get("configured_sha256") != fingerprint(configured):
        logger.info("EPM %s: the configured refresh token changed; using it", server)
        return configured
    return token
