"""Repairs after an interrupted write or a corrupt ``state.json`` (all under the file lock).

- :func:`repair_history` makes ``history.jsonl`` end with the state's last commit: a torn
  last line is cut, entries lost between the rename and the append are re-appended.
- :func:`records_from_history` replays changes on top of a restored backup (or rebuilds
  the board from the history alone when no backup is valid).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from bot.model import DomainRecord, HistoryEntry
from bot.store import files
from bot.store.base import JsonDict, RecordKey
from bot.store.encoding import lines

logger = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"
TAIL_BYTES = 64 * 1024
REPAIR_SLACK = 8 * 1024


def repair_history(
    history_fd: int, history_path: Path, version: int, last_changes: list[JsonDict]
) -> None:
    """Make ``history.jsonl`` end with the state's last commit, dropping a torn line."""
    size = os.fstat(history_fd).st_size
    if size == 0:
        tail: list[int] = []
    else:
        # The last commit's lines are exactly its entries; a little more shows the one before.
        wanted = REPAIR_SLACK + len(lines(last_changes))
        data, from_start = files.read_tail(history_fd, size, wanted)
        cut = data.rfind(b"\n") + 1
        if cut < len(data):
            os.truncate(history_path, size - (len(data) - cut))
            os.fsync(history_fd)
            logger.warning(
                "%s: removed a torn last line (%d bytes) left by an interrupted write",
                HISTORY_FILE,
                len(data) - cut,
            )
        tail = newest_versions(data[:cut], version, from_start=from_start)
    last_version = tail[0] if tail else 0
    if last_version > version:
        return
    already = sum(1 for v in tail if v == version)
    missing = last_changes[already:] if last_version == version else last_changes
    if missing:
        files.append_durably(history_fd, lines(missing))
        logger.warning(
            "%s: re-appended %d entr(ies) of version %d lost by an interrupted write",
            HISTORY_FILE,
            len(missing),
            version,
        )


def history_version(history_fd: int) -> int:
    """The highest board version recorded at the end of the history (0 when empty)."""
    size = os.fstat(history_fd).st_size
    data, from_start = files.read_tail(history_fd, size, TAIL_BYTES)
    tail = files.parse_lines(data, source=HISTORY_FILE, from_start=from_start)
    return max((int(e.get("version", 0)) for e in tail), default=0)


def newest_versions(data: bytes, version: int, *, from_start: bool) -> list[int]:
    """Versions of the last history lines, newest first, down to the first below ``version``.

    Scans backwards so the usual case (the history is complete) parses one or two lines.
    """
    chunks = data.split(b"\n")
    if not from_start:
        chunks = chunks[1:]  # may be cut in the middle by the tail read
    found: list[int] = []
    for line in reversed(chunks):
        if not line.strip():
            continue
        try:
            seen = int(json.loads(line).get("version", 0))
        except (ValueError, AttributeError):
            logger.warning("%s: skipped an unreadable line near the end", HISTORY_FILE)
            continue
        found.append(seen)
        if seen < version:
            break
    return found


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
