"""Low-level durable file operations used by the JSON store."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` with mode 0700, or warn when an existing one is readable by others."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            logger.warning("data directory %s is accessible to other users; use chmod 700", path)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def atomic_write(path: Path, data: bytes, dir_fd: int) -> os.stat_result:
    """Durably replace ``path`` with ``data``: temp file, fsync, rename, fsync the directory.

    Returns the new file's stat (inode, size and mtime identify this version).
    """
    tmp, stat = write_temp(path, data)
    try:
        publish(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    os.fsync(dir_fd)
    return stat


def write_temp(path: Path, data: bytes) -> tuple[Path, os.stat_result]:
    """Write ``data`` to a fsynced temp file beside ``path``, not yet visible as ``path``.

    Returns the temp file and its stat, which :func:`publish` keeps. A failed write
    leaves no temp file behind.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        write_all(fd, data)
        os.fsync(fd)
        stat = os.fstat(fd)
    except OSError:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp, stat


def publish(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` over ``path`` atomically: the moment readers see the new version.

    The caller fsyncs the directory afterwards to make the rename itself durable.
    """
    os.replace(tmp, path)


def truncate_durably(fd: int, size: int) -> None:
    """Cut the file ``fd`` back to ``size`` bytes and fsync it."""
    os.ftruncate(fd, size)
    os.fsync(fd)


def append_durably(fd: int, data: bytes) -> None:
    """Append ``data`` to the O_APPEND file ``fd`` and fsync it."""
    write_all(fd, data)
    os.fsync(fd)


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def read_tail(fd: int, size: int, wanted: int) -> tuple[bytes, bool]:
    """Read the last ``wanted`` bytes of a file of ``size`` bytes.

    Returns the bytes and whether they start at the beginning of the file.
    """
    start = max(0, size - wanted)
    return os.pread(fd, size - start, start), start == 0


def tails(fd: int, size: int, first: int) -> Iterator[tuple[bytes, bool]]:
    """Ever longer tails of a file of ``size`` bytes, as :func:`read_tail` reads them.

    The last ``first`` bytes, then four times as many, and so on; the last one read is
    the whole file. A reader that wants the end of a long file reads only that.
    """
    wanted = first
    while True:
        data, from_start = read_tail(fd, size, wanted)
        yield data, from_start
        if from_start:
            return
        wanted *= 4


def parse_lines(data: bytes, *, source: str, from_start: bool) -> list[dict[str, Any]]:
    """Parse JSON lines, skipping (and reporting) lines that do not parse.

    A first line that may be cut by a tail read (``from_start`` False) is dropped
    quietly; a last line without its newline is a torn write and is reported.
    """
    lines = data.split(b"\n")
    if not from_start:
        lines = lines[1:]
    torn = lines.pop() if lines else b""
    if torn.strip():
        logger.warning("%s: skipped a torn last line (%d bytes)", source, len(torn))
    parsed = (parse_line(line, source, n, " from the part read") for n, line in enumerate(lines, 1))
    return [entry for entry in parsed if entry is not None]


def parse_line(line: bytes, source: str, number: int, where: str = "") -> dict[str, Any] | None:
    """One JSON line's object; None for a blank line, a non-object, or (reported) bad JSON."""
    if not line.strip():
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        logger.warning("%s: skipped an unreadable line (%d%s)", source, number, where)
        return None
    return entry if isinstance(entry, dict) else None
