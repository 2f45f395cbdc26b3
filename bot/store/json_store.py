"""The JSON file store (SPEC §8): ``state.json``, ``history.jsonl`` and ``backups/``.

Every commit takes an exclusive portalocker lock on ``.lock``, re-reads the state if
another process changed it, applies the mutations, writes a temp file, fsyncs it,
renames it over ``state.json``, fsyncs the directory and then appends the history
lines (fsynced). Threads of one process share one commit ("group commit"): whoever
holds the commit lock applies every queued mutation in one durable write.

``state.json`` carries the history entries of its last commit, so a crash between
the rename and the history append is repaired on the next load.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import portalocker
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from bot.errors import StoreError
from bot.model import DomainRecord, utcnow
from bot.store import files
from bot.store.base import BoardState, JsonDict, Mutation, RecordKey, Store, WorkingState

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STATE_FILE = "state.json"
HISTORY_FILE = "history.jsonl"
LOCK_FILE = ".lock"
BACKUP_DIR = "backups"
_TAIL_BYTES = 64 * 1024
_REPAIR_SLACK = 8 * 1024
T = TypeVar("T")


class _StateFile(BaseModel):
    """What a valid ``state.json`` looks like; used to validate on open."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(ge=SCHEMA_VERSION, le=SCHEMA_VERSION)
    version: int = Field(ge=0)
    records: dict[str, dict[str, DomainRecord]]
    meta: dict[str, Any]
    last_changes: list[dict[str, Any]]


@dataclass
class _Pending:
    mutation: Mutation[Any]
    result: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class _Loaded:
    key: tuple[int, int, int]
    state: BoardState
    last_changes: list[JsonDict]


class JsonStore(Store):
    """The portalocker-locked JSON store in one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        files.ensure_private_dir(self.data_dir)
        files.ensure_private_dir(self.data_dir / BACKUP_DIR)
        self._state_path = self.data_dir / STATE_FILE
        self._history_path = self.data_dir / HISTORY_FILE
        lock_fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, files.FILE_MODE)
        self._lock_file = os.fdopen(lock_fd, "r+")
        self._dir_fd = os.open(self.data_dir, os.O_RDONLY)
        self._history_fd = os.open(
            self._history_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, files.FILE_MODE
        )
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._encoder = _RecordEncoder()
        with self._file_lock():
            self._remove_stale_temp_files()
            self._current()

    def __repr__(self) -> str:
        return f"JsonStore({str(self.data_dir)!r})"

    # --- reading -------------------------------------------------------------------

    def snapshot(self) -> BoardState:
        """Return the latest durable board, re-reading ``state.json`` only if it changed."""
        try:
            fd = os.open(self._state_path, os.O_RDONLY)
        except FileNotFoundError:
            return self._loaded.state if self._loaded else BoardState.empty()
        try:
            key = _key(os.fstat(fd))
            loaded = self._loaded
            if loaded is not None and loaded.key == key:
                return loaded.state
            data = _read_fd(fd)
        finally:
            os.close(fd)
        try:
            state, last_changes = _parse(data, validate=False)
        except ValueError:
            # A file we cannot parse outside the lock: let the locked path repair it.
            with self._commit_lock, self._file_lock():
                return self._current()
        self._loaded = _Loaded(key, state, last_changes)
        return state

    def history(
        self, app: str | None = None, domain: str | None = None, limit: int | None = None
    ) -> list[JsonDict]:
        """Return history entries, oldest first, filtered by app/domain, the last ``limit``.

        With a limit the file is read backwards in growing windows, so asking for the
        last few changes costs the same however long the history is.
        """
        try:
            fd = os.open(self._history_path, os.O_RDONLY)
        except FileNotFoundError:
            return []
        try:
            size = os.fstat(fd).st_size
            wanted = _TAIL_BYTES if limit else size
            while True:
                data, from_start = files.read_tail(fd, size, wanted)
                entries = files.parse_lines(data, source=HISTORY_FILE, from_start=from_start)
                selected = [
                    e
                    for e in entries
                    if (app is None or e.get("app") == app)
                    and (domain is None or e.get("domain") == domain)
                ]
                if from_start or (limit and len(selected) >= limit):
                    return selected[-limit:] if limit else selected
                wanted *= 4
        finally:
            os.close(fd)

    def iter_history(self) -> Iterator[JsonDict]:
        """Yield every history entry, oldest first, one line at a time.

        Lines appended while iterating may or may not be seen; a torn or unreadable
        line is skipped with a warning, as everywhere else.
        """
        try:
            handle = open(self._history_path, "rb")  # noqa: SIM115 - closed in finally
        except FileNotFoundError:
            return
        try:
            for number, line in enumerate(handle, start=1):
                if not line.endswith(b"\n"):
                    if line.strip():
                        logger.warning("%s: skipped a torn last line", HISTORY_FILE)
                    return
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    logger.warning("%s: skipped an unreadable line (%d)", HISTORY_FILE, number)
                    continue
                if isinstance(entry, dict):
                    yield entry
        finally:
            handle.close()

    def iter_history_after(self, version: int) -> Iterator[JsonDict]:
        """Yield the entries of commits after ``version``, reading the tail backwards.

        Versions only grow along the file, so growing tail windows stop at the first
        entry at or below ``version``: a reader that keeps up reads a few lines.
        """
        try:
            fd = os.open(self._history_path, os.O_RDONLY)
        except FileNotFoundError:
            return iter(())
        try:
            size = os.fstat(fd).st_size
            wanted = _TAIL_BYTES
            while True:
                data, from_start = files.read_tail(fd, size, wanted)
                entries = files.parse_lines(data, source=HISTORY_FILE, from_start=from_start)
                if from_start or (entries and int(entries[0].get("version", 0)) <= version):
                    return iter([e for e in entries if int(e.get("version", 0)) > version])
                wanted *= 4
        finally:
            os.close(fd)

    # --- writing -------------------------------------------------------------------

    def commit(self, mutation: Mutation[T]) -> T:
        """Apply ``mutation`` and return its result once the change is durable."""
        pending = _Pending(mutation)
        with self._queue_lock:
            self._queue.append(pending)
        with self._commit_lock:
            if not pending.done.is_set():
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._run_batch(batch)
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _run_batch(self, batch: list[_Pending]) -> None:
        failure: BaseException | None = StoreError("the commit was interrupted")
        try:
            with self._file_lock():
                base = self._current()
                work = WorkingState(base.version, dict(base.records), dict(base.meta))
                for pending in batch:
                    checkpoint = work.checkpoint()
                    try:
                        pending.result = pending.mutation(work)
                    except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
                        work.rollback(checkpoint)
                        pending.error = exc
                if work.dirty:
                    self._write(work)
            failure = None
        except (OSError, portalocker.LockException) as exc:
            self._loaded = None
            failure = StoreError(f"cannot write to {self.data_dir}: {exc}")
            failure.__cause__ = exc
        finally:
            for pending in batch:
                if failure is not None and pending.error is None:
                    pending.error = failure
                pending.done.set()

    def _write(self, work: WorkingState) -> None:
        version = work.version + 1
        for entry in work.history:
            entry["version"] = version
        document = b"".join(
            [
                b'{"schema_version":%d,"version":%d,"records":' % (SCHEMA_VERSION, version),
                self._encoder.records(work.records),
                b',"meta":',
                files.dumps(work.meta),
                b',"last_changes":',
                files.dumps(work.history),
                b"}",
            ]
        )
        stat = files.atomic_write(self._state_path, document, self._dir_fd)
        state = BoardState(version, MappingProxyType(work.records), MappingProxyType(work.meta))
        self._loaded = _Loaded(_key(stat), state, work.history)
        if work.history:
            try:
                files.append_durably(self._history_fd, _lines(work.history))
            except OSError:
                # The change is durable in state.json, which carries these entries; the
                # next load re-appends them (see _repair_history).
                self._loaded = None
                logger.exception(
                    "%s: append failed; the change is saved and the history will be "
                    "repaired from %s on the next write",
                    HISTORY_FILE,
                    STATE_FILE,
                )

    def backup(self, keep: int = 24) -> Path | None:
        """Copy ``state.json`` into ``backups/`` (durably) and keep only the newest ``keep``."""
        with self._commit_lock, self._file_lock():
            try:
                data = self._state_path.read_bytes()
            except FileNotFoundError:
                return None
            backups = self.data_dir / BACKUP_DIR
            stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
            target = backups / f"state-{stamp}.json"
            backup_dir_fd = os.open(backups, os.O_RDONLY)
            try:
                files.atomic_write(target, data, backup_dir_fd)
                for old in sorted(backups.glob("state-*.json"))[:-keep]:
                    old.unlink()
                os.fsync(backup_dir_fd)
            finally:
                os.close(backup_dir_fd)
        logger.info("state backed up to %s", target)
        return target

    def close(self) -> None:
        """Close the files this store holds open."""
        for fd in (self._dir_fd, self._history_fd):
            try:
                os.close(fd)
            except OSError:
                logger.debug("file descriptor %d was already closed", fd)
        self._lock_file.close()

    # --- loading, validation and repair (all under the file lock) -------------------

    def _file_lock(self) -> _FlockContext:
        return _FlockContext(self._lock_file)

    def _current(self) -> BoardState:
        """Return the state on disk, re-reading and repairing it when it changed."""
        try:
            key = _key(os.stat(self._state_path))
        except FileNotFoundError:
            if self._has_past():
                return self._restore_from_backup("state.json is missing")
            return self._start_empty("no state file yet")
        if self._loaded is not None and self._loaded.key == key:
            return self._loaded.state
        fd = os.open(self._state_path, os.O_RDONLY)
        try:
            key = _key(os.fstat(fd))
            data = _read_fd(fd)
        finally:
            os.close(fd)
        try:
            state, last_changes = _parse(data, validate=self._loaded is None)
        except ValueError as exc:
            return self._restore_from_backup(str(exc))
        self._loaded = _Loaded(key, state, last_changes)
        self._repair_history(state.version, last_changes)
        return state

    def _repair_history(self, version: int, last_changes: list[JsonDict]) -> None:
        """Make ``history.jsonl`` end with the state's last commit, dropping a torn line."""
        size = os.fstat(self._history_fd).st_size
        if size == 0:
            tail: list[int] = []
        else:
            # The last commit's lines are exactly its entries; a little more shows the one before.
            wanted = _REPAIR_SLACK + len(_lines(last_changes))
            data, from_start = files.read_tail(self._history_fd, size, wanted)
            cut = data.rfind(b"\n") + 1
            if cut < len(data):
                os.truncate(self._history_path, size - (len(data) - cut))
                os.fsync(self._history_fd)
                logger.warning(
                    "%s: removed a torn last line (%d bytes) left by an interrupted write",
                    HISTORY_FILE,
                    len(data) - cut,
                )
            tail = _newest_versions(data[:cut], version, from_start=from_start)
        last_version = tail[0] if tail else 0
        if last_version > version:
            return
        already = sum(1 for v in tail if v == version)
        missing = last_changes[already:] if last_version == version else last_changes
        if missing:
            files.append_durably(self._history_fd, _lines(missing))
            logger.warning(
                "%s: re-appended %d entr(ies) of version %d lost by an interrupted write",
                HISTORY_FILE,
                len(missing),
                version,
            )

    def _history_version(self) -> int:
        size = os.fstat(self._history_fd).st_size
        data, from_start = files.read_tail(self._history_fd, size, _TAIL_BYTES)
        tail = files.parse_lines(data, source=HISTORY_FILE, from_start=from_start)
        return max((int(e.get("version", 0)) for e in tail), default=0)

    def _start_empty(self, why: str) -> BoardState:
        version = self._history_version()
        work = WorkingState(version, {}, {})
        self._write(work)
        logger.info("started an empty board at version %d (%s)", version + 1, why)
        assert self._loaded is not None
        return self._loaded.state

    def _has_past(self) -> bool:
        """Whether this data dir has been used (history or backups exist)."""
        history_size = os.fstat(self._history_fd).st_size
        return history_size > 0 or any((self.data_dir / BACKUP_DIR).glob("*.json"))

    def _restore_from_backup(self, problem: str) -> BoardState:
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        aside = self._state_path.with_name(f"{STATE_FILE}.corrupt-{stamp}")
        if self._state_path.exists():
            os.replace(self._state_path, aside)
            os.fsync(self._dir_fd)
        backups = (self.data_dir / BACKUP_DIR).glob("*.json")
        for candidate in sorted(backups, key=_mtime_and_name, reverse=True):
            try:
                state, _ = _parse(candidate.read_bytes(), validate=True)
            except (OSError, ValueError):
                logger.warning("backup %s is not valid either; trying an older one", candidate)
                continue
            # Changes made after the backup are in the history: replay them on top.
            newer = [e for e in self.history() if int(e.get("version", 0)) > state.version]
            records = _records_from_history(newer, dict(state.records))
            # Continue numbering after the history so versions stay unique.
            version = max(state.version, self._history_version())
            self._write(WorkingState(version, records, dict(state.meta)))
            logger.error(
                "%s (%s); kept what there was as %s, restored backup %s and replayed %d "
                "later change(s) from %s",
                "state.json was corrupt" if aside.exists() else "state.json was missing",
                problem,
                aside.name if aside.exists() else "(nothing)",
                candidate.name,
                len(newer),
                HISTORY_FILE,
            )
            assert self._loaded is not None
            return self._loaded.state
        records = _records_from_history(self.history(), {})
        self._write(WorkingState(self._history_version(), records, {}))
        logger.error(
            "state.json was unusable (%s); no valid backup, rebuilt %d record(s) from %s "
            "(tracked EPM jobs and settings such as the canvas id are lost)",
            problem,
            len(records),
            HISTORY_FILE,
        )
        assert self._loaded is not None
        return self._loaded.state

    def _remove_stale_temp_files(self) -> None:
        for stale in self.data_dir.glob(f".{STATE_FILE}.tmp-*"):
            stale.unlink(missing_ok=True)
            logger.info("removed %s left by an interrupted write", stale.name)


class _FlockContext:
    """Exclusive portalocker lock on an open file, released on exit."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def __enter__(self) -> None:
        portalocker.lock(self._handle, portalocker.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        portalocker.unlock(self._handle)


def _mtime_and_name(path: Path) -> tuple[float, str]:
    try:
        return (path.stat().st_mtime, path.name)
    except OSError:
        return (0.0, path.name)


def _records_from_history(
    entries: list[JsonDict], records: dict[RecordKey, JsonDict]
) -> dict[RecordKey, JsonDict]:
    """``records`` with ``entries`` replayed on top: each domain's last change, and since
    when its status holds."""
    for entry in entries:
        try:
            key = (str(entry["app"]), str(entry["domain"]))
            record = DomainRecord(
                app=key[0],
                domain=key[1],
                status=entry["new_status"],
                message=entry.get("message", ""),
                updated_at=entry["at"],
                updated_by=entry.get("by", "system"),
            )
        except (KeyError, PydanticValidationError):
            continue
        previous = records.get(key)
        same = previous is not None and previous["status"] == record.status.value
        record.since = DomainRecord.model_validate(previous).since if same else record.updated_at
        records[key] = record.model_dump(mode="json")
    return records


def _key(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _read_fd(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(data: bytes, *, validate: bool) -> tuple[BoardState, list[JsonDict]]:
    """Parse ``state.json``; with ``validate`` check every field. Raises ValueError."""
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError("the top level is not an object")
    if validate:
        try:
            _StateFile.model_validate(document)
        except PydanticValidationError as exc:
            raise ValueError(f"invalid state: {exc.errors()[0]['msg']}") from exc
    elif document.get("schema_version") != SCHEMA_VERSION or not isinstance(
        document.get("records"), dict
    ):
        raise ValueError("unknown schema version or missing records")
    records: dict[RecordKey, JsonDict] = {
        (app, domain): record
        for app, domains in document["records"].items()
        for domain, record in domains.items()
    }
    state = BoardState(
        int(document["version"]),
        MappingProxyType(records),
        MappingProxyType(dict(document.get("meta", {}))),
    )
    return state, list(document.get("last_changes", []))


def _newest_versions(data: bytes, version: int, *, from_start: bool) -> list[int]:
    """Versions of the last history lines, newest first, down to the first below ``version``.

    Scans backwards so the usual case (the history is complete) parses one or two lines.
    """
    lines = data.split(b"\n")
    if not from_start:
        lines = lines[1:]  # may be cut in the middle by the tail read
    found: list[int] = []
    for line in reversed(lines):
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


class _RecordEncoder:
    """Encodes the records object, re-encoding only records that changed.

    Records are never edited in place (see WorkingState), so an unchanged record is
    the very same dict as last time and its encoded bytes can be reused.
    """

    def __init__(self) -> None:
        self._cache: dict[RecordKey, tuple[JsonDict, bytes]] = {}

    def records(self, records: dict[RecordKey, JsonDict]) -> bytes:
        """``{"app": {"domain": record, …}, …}`` as compact JSON bytes."""
        groups: dict[str, list[bytes]] = {}
        fresh: dict[RecordKey, tuple[JsonDict, bytes]] = {}
        for key, record in records.items():
            hit = self._cache.get(key)
            if hit is not None and hit[0] is record:
                fragment = hit[1]
            else:
                fragment = files.dumps(key[1]) + b":" + files.dumps(record)
            fresh[key] = (record, fragment)
            groups.setdefault(key[0], []).append(fragment)
        self._cache = fresh
        apps = (files.dumps(app) + b":{" + b",".join(parts) + b"}" for app, parts in groups.items())
        return b"{" + b",".join(apps) + b"}"


def _lines(entries: list[JsonDict]) -> bytes:
    return b"".join(files.dumps(e) + b"\n" for e in entries)
