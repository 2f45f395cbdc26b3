"""Rotated OAuth refresh tokens, persisted per EPM server under the data directory.

``EPMPULSE_DATA_DIR/tokens/<server>.json`` (mode 0600, directory 0700) holds the
newest refresh token and a fingerprint of the configured one. The file is written
atomically (temp file, fsync, rename, fsync the directory) and every refresh runs
under an exclusive lock on ``<server>.lock``, so ``epmpulse run`` and ``epmpulse
check`` never spend the same single-use token twice.

The persisted token wins over the configured one — unless the configured token has
changed since it was persisted (an operator issued a new one), then the new
configured token is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import portalocker

from bot.errors import EpmError
from bot.store.files import FILE_MODE, atomic_write, dumps, ensure_private_dir

logger = logging.getLogger(__name__)

TOKEN_DIR = "tokens"  # noqa: S105  (a directory name, not a secret)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


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

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive cross-process lock of this server's token."""
        try:
            ensure_private_dir(self.directory)
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise EpmError(
                f"cannot use {self.directory} for the tokens of EPM server {self.server}: "
                f"{exc.strerror}",
                permanent=True,
            ) from exc
        with os.fdopen(fd, "r+") as handle:
            portalocker.lock(handle, portalocker.LOCK_EX)
            try:
                yield
            finally:
                portalocker.unlock(handle)

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
        token = document.get("refresh_token") if isinstance(document, dict) else None
        if not isinstance(token, str) or not token:
            raise EpmError(f"{self.path} holds no refresh token", permanent=True)
        if document.get("configured_sha256") != fingerprint(configured):
            logger.info("EPM %s: the configured refresh token changed; using it", self.server)
            return configured
        return token

    def save(self, token: str, configured: str) -> None:
        """Durably persist ``token`` (0600) before anybody uses what came with it."""
        document = {"refresh_token": token, "configured_sha256": fingerprint(configured)}
        try:
            ensure_private_dir(self.directory)
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


def fingerprint(secret: str) -> str:
    """A SHA-256 hex digest that identifies ``secret`` without revealing it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
