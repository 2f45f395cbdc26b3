"""Repairs after an interrupted write or a corrupt ``state.json`` (all under the file lock).

A commit appends its history lines (fsynced) first and renames ``state.json`` after, so
the lines of a version are all in ``history.jsonl`` before any reader can see that
version, and readers yield only entries up to the board version they read first.

- :func:`repair_history` makes ``history.jsonl`` end with the state's last commit: a torn
  last line is cut, and so are the lines of a commit that never completed (appended, but
  the process died or the rename failed before ``state.json`` moved on). Readers never
  yielded those lines, so cutting them takes nothing from anyone.
- :func:`records_from_history` replays changes on top of a restored backup (or rebuilds
  the board from the history alone when no backup is valid).
"""

from __future__ import annotations

import json
import logging
import os
from itertools import takewhile

from bot.model import DomainRecord, HistoryEntry, RecordKey
from bot.store import files
from bot.store.base import JsonDict
from bot.store.encoding import lines

logger = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"
TAIL_BYTES = 64 * 1024


def version_of(entry: JsonDict) -> int:
    """The board version of the commit that made a history entry (0 when it has none)."""
    return int(entry.get("version", 0))


def repair_history(history_fd: int, version: int, last_changes: list[JsonDict]) -> int:
    """Make ``history.jsonl`` end with the commit of board ``version``; return its size.

    ``last_changes`` are that commit's entries, as ``state.json`` carries them.
    """
    size = _cut_torn_line(history_fd)
    tail = tail_versions(history_fd, size, version)
    ahead = list(takewhile(lambda line: line[1] > version, tail))
    if ahead:
        newest = max(seen for _, seen in ahead)
        if any(seen != version + 1 for _, seen in ahead):
            # Only a commit in flight gets ahead of the state, by one version; more means
            # state.json was replaced by an older copy. Keep the history as it is.
            logger.error(
                "%s runs ahead of the board (version %d > %d); state.json looks replaced "
                "by an older copy, the history is left as it is",
                HISTORY_FILE,
                newest,
                version,
            )
            return size
        size = ahead[-1][0]
        files.truncate_durably(history_fd, size)
        logger.warning(
            "%s: removed %d line(s) of version %d, a commit that never completed",
            HISTORY_FILE,
            len(ahead),
            version + 1,
        )
    already = sum(1 for _, seen in tail[len(ahead) :] if seen == version)
    missing = last_changes[already:]
    if missing:
        # Since the history is appended before the rename, a state's own lines are never
        # missing; only a data directory left by an older EPMPulse can lack them.
        data = lines(missing)
        files.append_durably(history_fd, data)
        size += len(data)
        logger.warning(
            "%s: re-appended %d entr(ies) of version %d lost by an interrupted write of an "
            "older EPMPulse",
            HISTORY_FILE,
            len(missing),
            version,
        )
    return size


def _cut_torn_line(history_fd: int) -> int:
    """Cut a last line without its newline (a write that was interrupted); return the size."""
    size = os.fstat(history_fd).st_size
    if size == 0 or os.pread(history_fd, 1, size - 1) == b"\n":
        return size
    data, newline = b"", -1
    for data, _ in files.tails(history_fd, size, TAIL_BYTES):
        newline = data.rfind(b"\n")
        if newline >= 0:
            break
    cut = size - len(data) + newline + 1
    files.truncate_durably(history_fd, cut)
    logger.warning(
        "%s: removed a torn last line (%d bytes) left by an interrupted write",
        HISTORY_FILE,
        size - cut,
    )
    return cut


def tail_versions(history_fd: int, size: int, version: int) -> list[tuple[int, int]]:
    """(offset, version) of the last lines, newest first, down to the first below ``version``.

    Reads the tail backwards in growing windows, so the usual case (a complete history)
    parses a line or two. The file's first ``size`` bytes must end with a newline.
    """
    found: list[tuple[int, int]] = []
    for data, from_start in files.tails(history_fd, size, TAIL_BYTES):
        found = _versions_backwards(data, size - len(data), version, from_start=from_start)
        if found and found[-1][1] < version:
            break
    return found


def _versions_backwards(
    data: bytes, base: int, version: int, *, from_start: bool
) -> list[tuple[int, int]]:
    offsets = []
    position = base
    for line in data.split(b"\n")[:-1]:
        offsets.append((position, line))
        position += len(line) + 1
    if not from_start:
        offsets = offsets[1:]  # may be cut in the middle by the tail read
    found: list[tuple[int, int]] = []
    for offset, line in reversed(offsets):
        if not line.strip():
            continue
        try:
            seen = version_of(json.loads(line))
        except (ValueError, AttributeError, TypeError):
            logger.warning("%s: skipped an unreadable line near the end", HISTORY_FILE)
            continue
        found.append((offset, seen))
        if seen < version:
            break
    return found


def history_version(history_fd: int) -> int:
    """The highest board version recorded at the end of the history (0 when empty)."""
    size = os.fstat(history_fd).st_size
    data, from_start = files.read_tail(history_fd, size, TAIL_BYTES)
    tail = files.parse_lines(data, source=HISTORY_FILE, from_start=from_start)
    return max((version_of(e) for e in tail), default=0)


def records_from_history(
    entries: list[JsonDict], records: dict[RecordKey, JsonDict]
) -> dict[RecordKey, JsonDict]:
    """``records`` with ``entries`` replayed on top: each domain's last change, and since
    when its status holds."""
    for entry in entries:
        try:
            change = HistoryEntry.from_json(entry)
        except ValueError:
            continue
        key = (change.app, change.domain)
        previous = records.get(key)
        same = previous is not None and previous.get("status") == change.new_status.value
        since = DomainRecord.from_json(previous).since if same else change.at
        records[key] = change.record(since).to_json()
    return records
