"""The JSON file store (SPEC §8): ``state.json``, ``history.jsonl`` and ``backups/``.

Every commit takes an exclusive portalocker lock on ``.lock`` (a bounded wait, see
:mod:`bot.store.filelock`), re-reads the state if another process changed it, applies
the mutations, writes and fsyncs a temp file, appends the commit's history lines
(fsynced), renames the temp file over ``state.json`` and fsyncs the directory. Threads
of one process share one commit (:mod:`bot.store.commit_queue`).

The rename is the commit point, and the history is written before it. Readers take no
lock: they read the board version first and then yield only history entries up to it,
so a commit's lines appear all at once (SPEC §15). A failed append or rename cuts the
history back to where it was; lines left by a process that died between the append and
the rename are cut under the lock before the next commit (:mod:`bot.store.recovery`).
The other seams: :mod:`bot.store.state_file` (reading and validating the state),
:mod:`bot.store.encoding` (writing it), :mod:`bot.store.backups`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple, TypeVar

import portalocker

from bot.errors import StoreError
from bot.store import backups, files, recovery
from bot.store.base import BoardState, JsonDict, Mutation, Store, WorkingState
from bot.store.commit_queue import GroupCommit, Pending, apply_batch, settle
from bot.store.encoding import RecordEncoder, lines
from bot.store.filelock import DEFAULT_TIMEOUT_SECONDS, FileLock
from bot.store.recovery import version_of
from bot.store.state_file import SCHEMA_VERSION, FileKey, file_key, parse, read_fd

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
HISTORY_FILE = recovery.HISTORY_FILE
LOCK_FILE = ".lock"
BACKUP_DIR = backups.BACKUP_DIR
T = TypeVar("T")


class _Loaded(NamedTuple):
    key: FileKey
    state: BoardState
    last_changes: list[JsonDict]
    history_size: int | None  # checked under the lock; None when read without it


class JsonStore(Store):
    """The portalocker-locked JSON store in one data directory."""

    def __init__(self, data_dir: Path, *, lock_timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.data_dir = Path(data_dir)
        files.ensure_private_dir(self.data_dir)
        files.ensure_private_dir(self.data_dir / BACKUP_DIR)
        self._state_path = self.data_dir / STATE_FILE
        self._history_path = self.data_dir / HISTORY_FILE
        self._lock = FileLock(self.data_dir / LOCK_FILE, lock_timeout)
        self._dir_fd = os.open(self.data_dir, os.O_RDONLY)
        self._history_fd = os.open(
            self._history_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, files.FILE_MODE
        )
        self._commits = GroupCommit()
        self._loaded: _Loaded | None = None
        self._encoder = RecordEncoder()
        try:
            with self._lock:
                self._remove_stale_temp_files()
                self._current()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"JsonStore({str(self.data_dir)!r})"

    # --- reading -------------------------------------------------------------------

    def snapshot(self) -> BoardState:
        """Return the latest durable board, re-reading ``state.json`` only if it changed.

        Read without the lock, which is safe because ``state.json`` is only ever
        replaced whole: a writer renames a complete, fsynced temp file over it. Opening
        the path therefore yields one whole version, old or new, and the key taken with
        ``fstat`` on that open file (inode, mtime, size) is the key of exactly the bytes
        read. A file that does not parse (changed by hand, say) is re-read under the lock,
        where it is repaired.
        """
        try:
            fd = os.open(self._state_path, os.O_RDONLY)
        except FileNotFoundError:
            return self._loaded.state if self._loaded else BoardState.empty()
        try:
            key = file_key(os.fstat(fd))
            loaded = self._loaded
            if loaded is not None and loaded.key == key:
                return loaded.state
            data = read_fd(fd)
        finally:
            os.close(fd)
        try:
            state, last_changes = parse(data, validate=False)
        except ValueError:
            with self._commits.lock, self._lock:
                return self._current()
        self._loaded = _Loaded(key, state, last_changes, None)
        return state

    def history(
        self, app: str | None = None, domain: str | None = None, limit: int | None = None
    ) -> list[JsonDict]:
        """Return history entries, oldest first, filtered by app/domain, the last ``limit``.

        With a limit the file is read backwards in growing windows, so asking for the
        last few changes costs the same however long the history is.
        """
        return self._history(self.snapshot().version, app, domain, limit)

    def _history(
        self, through: int | None, app: str | None, domain: str | None, limit: int | None
    ) -> list[JsonDict]:
        """:meth:`history` up to board version ``through`` (None: every line in the file)."""
        try:
            fd = os.open(self._history_path, os.O_RDONLY)
        except FileNotFoundError:
            return []
        try:
            size = os.fstat(fd).st_size
            selected: list[JsonDict] = []
            for data, from_start in files.tails(fd, size, recovery.TAIL_BYTES if limit else size):
                entries = files.parse_lines(data, source=HISTORY_FILE, from_start=from_start)
                selected = [
                    e
                    for e in entries
                    if (through is None or version_of(e) <= through)
                    and (app is None or e.get("app") == app)
                    and (domain is None or e.get("domain") == domain)
                ]
                if limit and len(selected) >= limit:
                    break
            return selected[-limit:] if limit else selected
        finally:
            os.close(fd)

    def iter_history(self) -> Iterator[JsonDict]:
        """Yield every committed history entry, oldest first, one line at a time.

        Commits made while iterating are not seen; a torn or unreadable line is skipped
        with a warning, as everywhere else.
        """
        through = self.snapshot().version
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
                entry = files.parse_line(line, HISTORY_FILE, number)
                if entry is not None and version_of(entry) <= through:
                    yield entry
        finally:
            handle.close()

    def iter_history_after(self, version: int) -> Iterator[JsonDict]:
        """Yield the entries of commits after ``version``, reading the tail backwards.

        Versions only grow along the file, so growing tail windows stop at the first
        entry at or below ``version``: a reader that keeps up reads a few lines, and one
        that is up to date with the board reads none.
        """
        through = self.snapshot().version
        if through <= version:
            return iter(())
        try:
            fd = os.open(self._history_path, os.O_RDONLY)
        except FileNotFoundError:
            return iter(())
        try:
            entries: list[JsonDict] = []
            for data, from_start in files.tails(fd, os.fstat(fd).st_size, recovery.TAIL_BYTES):
                entries = files.parse_lines(data, source=HISTORY_FILE, from_start=from_start)
                if entries and version_of(entries[0]) <= version:
                    break
            return iter([e for e in entries if version < version_of(e) <= through])
        finally:
            os.close(fd)

    # --- writing -------------------------------------------------------------------

    def commit(self, mutation: Mutation[T]) -> T:
        """Apply ``mutation`` and return its result once the change is durable.

        Raises StoreError when the change could not be made durable (disk full, the
        lock held elsewhere for too long); nothing was changed then.
        """
        return self._commits.submit(mutation, self._run_batch)

    def _run_batch(self, batch: list[Pending]) -> None:
        failure: BaseException | None = StoreError("the commit was interrupted")
        try:
            with self._lock:
                base = self._current()
                work = WorkingState(base.version, dict(base.records), dict(base.meta))
                apply_batch(work, batch)
                if work.dirty:
                    self._write(work)
            failure = None
        except StoreError as exc:  # the lock timed out
            self._loaded = None
            failure = exc
        except (OSError, portalocker.LockException) as exc:
            self._loaded = None
            failure = StoreError(f"cannot write to {self.data_dir}: {exc}")
            failure.__cause__ = exc
        finally:
            settle(batch, failure)

    def _write(self, work: WorkingState) -> BoardState:
        """Commit ``work`` as the next version (history, then the rename); the new board."""
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
        history = lines(work.history)
        tmp, stat = files.write_temp(self._state_path, document)
        committed_size = os.fstat(self._history_fd).st_size
        try:
            if history:
                files.append_durably(self._history_fd, history)
            files.publish(tmp, self._state_path)
        except OSError:
            tmp.unlink(missing_ok=True)
            self._take_back_history(committed_size)
            raise
        state = BoardState(version, MappingProxyType(work.records), MappingProxyType(work.meta))
        self._loaded = _Loaded(file_key(stat), state, work.history, committed_size + len(history))
        # The commit is visible from here on; only the rename's durability is left.
        os.fsync(self._dir_fd)
        return state

    def _take_back_history(self, size: int) -> None:
        """Cut the lines of a commit that failed, which no reader yielded (under the lock)."""
        try:
            files.truncate_durably(self._history_fd, size)
        except OSError:
            # The lines stay ahead of state.json, where readers skip them; the next
            # commit's load cuts them (its history size differs from the one recorded).
            logger.exception("%s: could not cut the lines of a failed commit", HISTORY_FILE)

    def backup(self, keep: int = 24) -> Path | None:
        """Copy ``state.json`` into ``backups/`` (durably) and keep only the newest ``keep``."""
        with self._commits.lock, self._lock:
            try:
                data = self._state_path.read_bytes()
            except FileNotFoundError:
                return None
            target = backups.write_backup(self.data_dir / BACKUP_DIR, data, keep)
        logger.info("state backed up to %s", target)
        return target

    def close(self) -> None:
        """Close the files this store holds open."""
        for fd in (getattr(self, "_dir_fd", None), getattr(self, "_history_fd", None)):
            if fd is None:
                continue
            try:
                os.close(fd)
            except OSError:
                logger.debug("file descriptor %d was already closed", fd)

    # --- loading, validation and repair (all under the file lock) -------------------

    def _current(self) -> BoardState:
        """Return the state on disk, re-reading and repairing it when it changed.

        The history is checked too when its size is not the one this store left: a
        process that died between its append and its rename leaves lines to cut.
        """
        try:
            key = file_key(os.stat(self._state_path))
        except FileNotFoundError:
            if self._has_past():
                return self._restore_from_backup("state.json is missing")
            return self._start_empty("no state file yet")
        loaded = self._loaded
        if loaded is None or loaded.key != key:
            fd = os.open(self._state_path, os.O_RDONLY)
            try:
                key = file_key(os.fstat(fd))
                data = read_fd(fd)
            finally:
                os.close(fd)
            try:
                state, last_changes = parse(data, validate=loaded is None)
            except ValueError as exc:
                return self._restore_from_backup(str(exc))
            loaded = _Loaded(key, state, last_changes, None)
        if loaded.history_size != os.fstat(self._history_fd).st_size:
            size = recovery.repair_history(
                self._history_fd, loaded.state.version, loaded.last_changes
            )
            loaded = loaded._replace(history_size=size)
        self._loaded = loaded
        return loaded.state

    def _start_empty(self, why: str) -> BoardState:
        version = recovery.history_version(self._history_fd)
        state = self._write(WorkingState(version, {}, {}))
        logger.info("started an empty board at version %d (%s)", version + 1, why)
        return state

    def _has_past(self) -> bool:
        """Whether this data dir has been used (history or backups exist)."""
        history_size = os.fstat(self._history_fd).st_size
        return history_size > 0 or any((self.data_dir / BACKUP_DIR).glob("*.json"))

    def _restore_from_backup(self, problem: str) -> BoardState:
        aside = self._state_path.with_name(f"{STATE_FILE}.corrupt-{backups.stamp()}")
        if self._state_path.exists():
            os.replace(self._state_path, aside)
            os.fsync(self._dir_fd)
        for candidate in backups.newest_first(self.data_dir / BACKUP_DIR):
            try:
                state, _ = parse(candidate.read_bytes(), validate=True)
            except (OSError, ValueError):
                logger.warning("backup %s is not valid either; trying an older one", candidate)
                continue
            # Changes made after the backup are in the history: replay them on top.
            newer = [
                e for e in self._history(None, None, None, None) if version_of(e) > state.version
            ]
            records = recovery.records_from_history(newer, dict(state.records))
            # Continue numbering after the history so versions stay unique.
            version = max(state.version, recovery.history_version(self._history_fd))
            restored = self._write(WorkingState(version, records, dict(state.meta)))
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
            return restored
        records = recovery.records_from_history(self._history(None, None, None, None), {})
        rebuilt = self._write(WorkingState(recovery.history_version(self._history_fd), records, {}))
        logger.error(
            "state.json was unusable (%s); no valid backup, rebuilt %d record(s) from %s "
            "(tracked EPM jobs and settings such as the canvas id are lost)",
            problem,
            len(records),
            HISTORY_FILE,
        )
        return rebuilt

    def _remove_stale_temp_files(self) -> None:
        for stale in self.data_dir.glob(f".{STATE_FILE}.tmp-*"):
            stale.unlink(missing_ok=True)
            logger.info("removed %s left by an interrupted write", stale.name)
