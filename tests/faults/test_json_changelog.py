"""The JSON store's change log is never visible half-written (SPEC §15, JSON store).

Faults are injected at the store's named file steps (``bot.store.files.append_durably``,
the history append; ``bot.store.files.publish``, the rename of ``state.json``). A probe
reads the change log the ways its readers do: alert delivery (``iter_history_after``),
export (``iter_history``) and the history views (``history``).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from bot.config import Config
from bot.errors import StoreError
from bot.store import JsonStore, Mutation, WorkingState, files
from bot.store.json_store import HISTORY_FILE

BATCH = 20
AppendDurably = Callable[[int, bytes], None]


class SimulatedCrash(BaseException):
    """The process dies here: nothing after this point runs, no cleanup either."""


class Seen(NamedTuple):
    """What each reader of the change log shows of one commit."""

    board: int
    after: int
    streamed: int
    listed: int


def _batch(name: str) -> Mutation[None]:
    """A commit of ``BATCH`` history entries, like a batch update or a month roll-over."""

    def mutation(work: WorkingState) -> None:
        for n in range(BATCH):
            work.add_history(
                {"app": "Planning", "domain": "Actuals", "message": f"{name}-{n}", "by": "system"}
            )

    return mutation


def _seen(store: JsonStore, version: int) -> Seen:
    """How many entries of commit ``version`` each reader yields, and the board's version."""

    def count(entries: Iterator[dict[str, object]] | list[dict[str, object]]) -> int:
        return sum(1 for e in entries if e.get("version") == version)

    return Seen(
        store.snapshot().version,
        count(store.iter_history_after(version - 1)),
        count(store.iter_history()),
        count(store.history()),
    )


def _file_versions(data_dir: Path) -> Counter[int]:
    """How many lines of each version ``history.jsonl`` holds (every line must parse)."""
    raw = (data_dir / HISTORY_FILE).read_bytes()
    assert raw == b"" or raw.endswith(b"\n")
    return Counter(int(json.loads(line)["version"]) for line in raw.splitlines())


@pytest.fixture
def data_dir(config: Config) -> Path:
    """The temp data directory."""
    return config.settings.data_dir


@pytest.fixture
def json_store(data_dir: Path) -> Iterator[JsonStore]:
    """A JSON store holding one committed batch, so the history is not empty."""
    opened = JsonStore(data_dir)
    opened.commit(_batch("before"))
    yield opened
    opened.close()


def test_a_reader_between_the_append_and_the_rename_sees_none_of_the_commit(
    json_store: JsonStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after the history append, before state.json moves on, every reader shows
    nothing of the commit; once it returns, every reader shows all 20 entries."""
    version = json_store.snapshot().version + 1
    real_append: AppendDurably = files.append_durably
    probes: list[Seen] = []

    def append_then_read(fd: int, data: bytes) -> None:
        real_append(fd, data)
        probes.append(_seen(json_store, version))

    monkeypatch.setattr(files, "append_durably", append_then_read)
    json_store.commit(_batch("batch"))
    assert probes == [Seen(version - 1, 0, 0, 0)]
    assert _seen(json_store, version) == Seen(version, BATCH, BATCH, BATCH)


def test_a_failed_append_is_never_seen_and_never_re_added(
    json_store: JsonStore, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append that writes half its bytes and fails shows nothing to a reader, fails
    the commit, leaves no line behind, and the next commit gets that version alone."""
    version = json_store.snapshot().version + 1
    real_append: AppendDurably = files.append_durably
    probes: list[Seen] = []

    def half_then_disk_full(fd: int, data: bytes) -> None:
        files.write_all(fd, data[: len(data) // 2])
        probes.append(_seen(json_store, version))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "append_durably", half_then_disk_full)
    with pytest.raises(StoreError):
        json_store.commit(_batch("failed"))
    assert probes == [Seen(version - 1, 0, 0, 0)]
    assert _seen(json_store, version) == Seen(version - 1, 0, 0, 0)
    assert _file_versions(data_dir) == {version - 1: BATCH}

    monkeypatch.setattr(files, "append_durably", real_append)
    json_store.commit(_batch("next"))
    reopened = JsonStore(data_dir)  # its repair must not bring the failed entries back
    try:
        messages = [e["message"] for e in reopened.iter_history_after(version - 1)]
        assert messages == [f"next-{n}" for n in range(BATCH)]
        assert _file_versions(data_dir) == {version - 1: BATCH, version: BATCH}
    finally:
        reopened.close()


def test_a_failed_rename_takes_the_appended_lines_back(
    json_store: JsonStore, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When state.json cannot be renamed, the commit fails and its lines are cut again."""
    version = json_store.snapshot().version + 1

    def cannot_rename(tmp: Path, path: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(files, "publish", cannot_rename)
    with pytest.raises(StoreError):
        json_store.commit(_batch("failed"))
    assert _seen(json_store, version) == Seen(version - 1, 0, 0, 0)
    assert _file_versions(data_dir) == {version - 1: BATCH}
    assert not list(data_dir.glob(".state.json.tmp-*"))

    monkeypatch.undo()
    json_store.commit(_batch("next"))
    assert _file_versions(data_dir) == {version - 1: BATCH, version: BATCH}


def test_lines_left_by_a_crash_before_the_rename_are_cut_on_load_and_never_yielded(
    json_store: JsonStore,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A process dying between its append and its rename leaves lines that no reader
    yields; the next store to load the directory cuts them, loudly."""
    version = json_store.snapshot().version + 1
    real_append: AppendDurably = files.append_durably

    def append_then_die(fd: int, data: bytes) -> None:
        real_append(fd, data)
        raise SimulatedCrash

    monkeypatch.setattr(files, "append_durably", append_then_die)
    with pytest.raises(SimulatedCrash):
        json_store.commit(_batch("orphan"))
    monkeypatch.undo()
    assert _file_versions(data_dir)[version] == BATCH  # the orphan lines are on disk
    assert _seen(json_store, version) == Seen(version - 1, 0, 0, 0)

    with caplog.at_level(logging.WARNING):
        reopened = JsonStore(data_dir)
    try:
        assert "a commit that never completed" in caplog.text
        assert _file_versions(data_dir) == {version - 1: BATCH}
        assert _seen(reopened, version) == Seen(version - 1, 0, 0, 0)
    finally:
        reopened.close()


def test_a_store_open_during_a_crash_cuts_the_orphan_lines_before_its_next_commit(
    json_store: JsonStore, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process that had the directory open already does not append after the
    dead one's lines: the version it commits holds its own entries only."""
    version = json_store.snapshot().version + 1
    other = JsonStore(data_dir)
    real_append: AppendDurably = files.append_durably

    def append_then_die(fd: int, data: bytes) -> None:
        real_append(fd, data)
        raise SimulatedCrash

    monkeypatch.setattr(files, "append_durably", append_then_die)
    with pytest.raises(SimulatedCrash):
        json_store.commit(_batch("orphan"))
    monkeypatch.undo()
    try:
        other.commit(_batch("survivor"))
        messages = [e["message"] for e in other.iter_history_after(version - 1)]
        assert messages == [f"survivor-{n}" for n in range(BATCH)]
        assert _file_versions(data_dir) == {version - 1: BATCH, version: BATCH}
    finally:
        other.close()


def test_a_reader_racing_a_writer_sees_every_commit_whole(
    json_store: JsonStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader thread polling iter_history_after while a writer thread commits 100
    batches, each appended line by line, sees every commit with all 20 entries."""
    commits = 100
    start = json_store.snapshot().version
    final = start + commits

    def append_line_by_line(fd: int, data: bytes) -> None:
        for line in data.splitlines(keepends=True):
            files.write_all(fd, line)
        os.fsync(fd)

    monkeypatch.setattr(files, "append_durably", append_line_by_line)
    written = threading.Event()
    partial: list[tuple[int, int]] = []
    reads = 0
    reached = start

    def writer() -> None:
        try:
            for n in range(commits):
                json_store.commit(_batch(f"w{n}"))
        finally:
            written.set()

    def reader() -> None:
        nonlocal reads, reached
        while reached < final:
            finished = written.is_set()
            counts = Counter(int(e["version"]) for e in json_store.iter_history_after(reached))
            reads += 1
            partial.extend((v, c) for v, c in counts.items() if c != BATCH)
            if counts:
                reached = max(counts)
            elif finished:
                return  # the writer is done and nothing more will come

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert partial == []
    assert reached == final
    assert reads > 1
