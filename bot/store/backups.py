"""Backups of ``state.json`` in ``backups/``: written durably, the newest ``keep`` kept."""

from __future__ import annotations

import os
from pathlib import Path

from bot.model import utcnow
from bot.store import files

BACKUP_DIR = "backups"


def stamp() -> str:
    """A UTC time stamp that sorts in time order, for file names."""
    return utcnow().strftime("%Y%m%dT%H%M%S%fZ")


def write_backup(backups: Path, data: bytes, keep: int) -> Path:
    """Durably write ``data`` as a new backup in ``backups`` and delete all but ``keep``."""
    target = backups / f"state-{stamp()}.json"
    dir_fd = os.open(backups, os.O_RDONLY)
    try:
        files.atomic_write(target, data, dir_fd)
        for old in sorted(backups.glob("state-*.json"))[:-keep]:
            old.unlink()
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def newest_first(backups: Path) -> list[Path]:
    """Every backup, newest first (by modification time, then name)."""
    return sorted(backups.glob("*.json"), key=_mtime_and_name, reverse=True)


def _mtime_and_name(path: Path) -> tuple[float, str]:
    try:
        return (path.stat().st_mtime, path.name)
    except OSError:
        return (0.0, path.name)
