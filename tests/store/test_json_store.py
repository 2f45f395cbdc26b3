"""The JSON store: durability, locking across processes, repair and backups."""

from __future__ import annotations

import json
import logging
import random
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import portalocker
import pytest

from bot.config import Config
from bot.errors import StoreError
from bot.model import Status
from bot.service import StatusService
from bot.store import JsonStore
from bot.store.json_store import HISTORY_FILE, STATE_FILE

WRITER = """
import sys
from bot.config import load_config
from bot.service import StatusService
from bot.store import JsonStore, WorkingState

data_dir, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = load_config({"EPMPULSE_DATA_DIR": data_dir})
service = StatusService(config.estate.layout, JsonStore(data_dir))
domains = config.estate.domain_keys()
print("ready", flush=True)
for i in range(count):
    app, domain = domains[i % len(domains)]
    service.set(app, domain, "OK" if i % 2 else "Loading", f"{name}-{i}", by=f"api:{name}")
    print(i, flush=True)
"""


def _writer(data_dir: Path, name: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(data_dir), name, str(count)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def _history_lines(data_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (data_dir / HISTORY_FILE).read_text().splitlines()]


def test_four_processes_lose_no_update(config: Config) -> None:
    """4 processes x 250 sets on one data dir give exactly 1000 history lines."""
    data_dir = config.settings.data_dir
    JsonStore(data_dir).close()
    writers = [_writer(data_dir, f"w{n}", 250) for n in range(4)]
    for proc in writers:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    history = _history_lines(data_dir)
    assert len(history) == 1000
    state = json.loads((data_dir / STATE_FILE).read_text())
    assert state["version"] == 1001  # one empty-board commit + 1000 sets
    versions = [e["version"] for e in history]
    assert versions == sorted(versions) and len(set(versions)) == 1000
    for name in ("w0", "w1", "w2", "w3"):
        assert sum(1 for e in history if e["message"].startswith(f"{name}-")) == 250
    # The state holds, for every domain, the last change the history shows for it.
    last: dict[tuple[str, str], str] = {}
    for entry in history:
        last[(str(entry["app"]), str(entry["domain"]))] = str(entry["message"])
    for app, domains in state["records"].items():
        for domain, record in domains.items():
            assert record["message"] == last[(app, domain)]


def test_a_writer_killed_at_random_moments_never_breaks_the_files(config: Config) -> None:
    """SIGKILL mid-write 20 times: state parses, history reads, no acknowledged change lost."""
    data_dir = config.settings.data_dir
    rng = random.Random(20261125)
    for round_ in range(20):
        proc = _writer(data_dir, f"k{round_}", 100_000)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.005, 0.08))
        proc.send_signal(signal.SIGKILL)
        acked = [int(line) for line in proc.stdout.read().split()]
        proc.wait(timeout=10)
        json.loads((data_dir / STATE_FILE).read_text())  # always a whole file
        store = JsonStore(data_dir)  # repairs the history tail if the kill tore it
        messages = {e["message"] for e in store.history()}
        assert all(f"k{round_}-{i}" in messages for i in acked)
        history = _history_lines(data_dir)
        assert history[-1]["version"] == store.snapshot().version
        store.close()


def test_a_torn_last_history_line_is_skipped_and_reported(
    service: StatusService, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """A half-written last line never crashes a history read."""
    service.set("Planning", "Actuals", "OK", "first", by="system")
    with (config.settings.data_dir / HISTORY_FILE).open("ab") as history:
        history.write(b'{"app":"Planning","domain":"Actuals","new_st')
    with caplog.at_level(logging.WARNING):
        entries = service.history("Planning", "Actuals")
    assert [e.message for e in entries] == ["first"]
    assert "torn last line" in caplog.text


def test_history_lines_an_older_version_lost_in_a_crash_are_re_appended(config: Config) -> None:
    """Lines of the state's last commit missing from the history (an older EPMPulse renamed
    state.json before appending, and could crash in between) are re-appended on open."""
    data_dir = config.settings.data_dir
    store = JsonStore(data_dir)
    service = StatusService(config.estate.layout, store)
    service.set("Planning", "Actuals", "OK", "one", by="system")
    service.set("Planning", "Forecast", "Error", "two", by="system")
    store.close()
    history = data_dir / HISTORY_FILE
    lines = history.read_bytes().splitlines(keepends=True)
    history.write_bytes(b"".join(lines[:-1]) + lines[-1][:10])  # lose the last, tear it
    reopened = JsonStore(data_dir)
    assert [e["message"] for e in reopened.history()] == ["one", "two"]
    assert history.read_bytes().endswith(b"\n")
    reopened.close()


def test_a_corrupt_state_is_moved_aside_and_restored_from_backup(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupt state.json is kept aside, the newest valid backup restored and the later
    changes replayed from the history, loudly."""
    data_dir = config.settings.data_dir
    store = JsonStore(data_dir)
    service = StatusService(config.estate.layout, store)
    service.set("Planning", "Actuals", "OK", "backed up", by="system")
    store.backup()
    service.set("Planning", "Actuals", "Error", "after backup", by="system")
    store.close()
    (data_dir / "backups" / "state-99991231T235959999999Z.json").write_text("{broken")
    (data_dir / STATE_FILE).write_text('{"schema_version": 1, "version": "x"')
    with caplog.at_level(logging.ERROR):
        restored = StatusService(config.estate.layout, JsonStore(data_dir))
    assert restored.get("Planning", "Actuals").message == "after backup"
    assert restored.get("Planning", "Actuals").status is Status.ERROR
    assert [p.name for p in data_dir.glob("state.json.corrupt-*")]
    assert "state.json was corrupt" in caplog.text
    # Versions continue after the history so they stay unique.
    restored.set("ARCS", "Reconciliation", "OK", by="system")
    versions = [e["version"] for e in _history_lines(data_dir)]
    assert len(set(versions)) == len(versions)


def test_a_corrupt_state_without_backups_is_rebuilt_from_history(config: Config) -> None:
    """With no valid backup the board is rebuilt from history.jsonl, the broken file kept."""
    data_dir = config.settings.data_dir
    service = StatusService(config.estate.layout, JsonStore(data_dir))
    service.set("Planning", "Actuals", "Loading", "started", by="epm:planning")
    service.set("Planning", "Actuals", "Loading", "half way", by="epm:planning")
    service.set("FCCS", "Consolidation", "Error", "rule 12", by="slack:U1")
    started = service.get("Planning", "Actuals").since
    service.store.close()
    for backup in (data_dir / "backups").glob("*"):
        backup.unlink()
    (data_dir / STATE_FILE).write_text("{ not json")
    rebuilt = StatusService(config.estate.layout, JsonStore(data_dir))
    actuals = rebuilt.get("Planning", "Actuals")
    assert (actuals.status, actuals.message, actuals.updated_by) == (
        Status.LOADING,
        "half way",
        "epm:planning",
    )
    assert actuals.since == started
    assert rebuilt.get("FCCS", "Consolidation").status is Status.ERROR
    rebuilt.set("ARCS", "Reconciliation", "OK", by="system")
    versions = [e["version"] for e in _history_lines(data_dir)]
    assert len(set(versions)) == len(versions)


def test_an_invalid_state_without_backups_starts_empty(config: Config) -> None:
    """With no valid backup and no history the board starts empty; the broken file is kept."""
    data_dir = config.settings.data_dir
    data_dir.mkdir(mode=0o700)
    (data_dir / STATE_FILE).write_text('{"schema_version": 1, "version": 3, "records": []}')
    service = StatusService(config.estate.layout, JsonStore(data_dir))
    assert service.get("Planning", "Actuals").status is Status.PENDING
    assert len(list(data_dir.glob("state.json.corrupt-*"))) == 1


def test_files_are_private(service: StatusService, config: Config) -> None:
    """The data dir is 0700 and every file in it 0600."""
    service.set("Planning", "Actuals", "OK", by="system")
    service.store.backup()
    data_dir = config.settings.data_dir
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "backups").stat().st_mode) == 0o700
    for path in [*data_dir.iterdir(), *(data_dir / "backups").iterdir()]:
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_backups_keep_the_newest_24(service: StatusService, config: Config) -> None:
    """Backup rotation keeps only the newest copies."""
    for n in range(30):
        service.set("Planning", "Actuals", "OK", str(n), by="system")
        service.store.backup(keep=24)
    backups = sorted((config.settings.data_dir / "backups").glob("state-*.json"))
    assert len(backups) == 24
    assert json.loads(backups[-1].read_text())["records"]["Planning"]["Actuals"]["message"] == "29"


def test_concurrent_readers_never_see_a_partial_file(config: Config) -> None:
    """Readers in other threads always parse a whole state while a writer runs."""
    store = JsonStore(config.settings.data_dir)
    service = StatusService(config.estate.layout, store)
    stop = threading.Event()
    failures: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        path = config.settings.data_dir / STATE_FILE
        while not stop.is_set():
            try:
                json.loads(path.read_bytes())
                StatusService(config.estate.layout, store).board()
                reads += 1
            except Exception as exc:  # any failure in a reader fails the test
                failures.append(repr(exc))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for n in range(200):
        service.set("Planning", "Actuals", "OK", "m" * (n % 200), by="system")
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert failures == []
    assert reads > 0


def test_a_missing_state_file_is_restored_not_started_empty(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """A deleted state.json with history and backups present is restored, loudly."""
    data_dir = config.settings.data_dir
    store = JsonStore(data_dir)
    service = StatusService(config.estate.layout, store)
    service.set("ARCS", "Reconciliation", "OK", "before backup", by="system")
    store.backup()
    service.set("ARCS", "Reconciliation", "Warning", "after backup", by="system")
    store.close()
    (data_dir / STATE_FILE).unlink()
    with caplog.at_level(logging.ERROR):
        restored = StatusService(config.estate.layout, JsonStore(data_dir))
    record = restored.get("ARCS", "Reconciliation")
    assert (record.status, record.message) == (Status.WARNING, "after backup")
    assert "state.json was missing" in caplog.text


def test_history_reads_the_tail_and_still_finds_old_entries(
    service: StatusService, config: Config
) -> None:
    """A limited read returns the newest entries, and reaches back as far as it must."""
    service.set("ARCS", "Reconciliation", "OK", "the only ARCS change", by="system")
    line = {"app": "Planning", "domain": "Actuals", "old_status": "OK", "new_status": "OK"}
    with (config.settings.data_dir / HISTORY_FILE).open("ab") as history:
        for n in range(5000):  # ~600 KiB: several windows
            entry = {**line, "message": f"m{n}", "by": "system", "at": "2026-11-25T08:00:00Z"}
            history.write(json.dumps(entry).encode() + b"\n")
    newest = service.store.history("Planning", "Actuals", 3)
    assert [e["message"] for e in newest] == ["m4997", "m4998", "m4999"]
    oldest = service.store.history("ARCS", "Reconciliation", 5)
    assert [e["message"] for e in oldest] == ["the only ARCS change"]
    assert len(service.store.history()) == 5001


def test_iter_history_streams_every_entry_in_order_and_skips_a_torn_line(
    service: StatusService, config: Config
) -> None:
    """iter_history yields all entries oldest first and drops a torn last line."""
    for n in range(3):
        service.set("Planning", "Actuals", "OK", f"m{n}", by="system")
    with (config.settings.data_dir / HISTORY_FILE).open("ab") as history:
        history.write(b'{"app": "Planning", "dom')
    entries = list(service.store.iter_history())
    assert [e["message"] for e in entries] == ["m0", "m1", "m2"]
    assert [e["version"] for e in entries] == sorted(e["version"] for e in entries)


def test_a_lock_held_elsewhere_too_long_fails_the_commit_and_changes_nothing(
    config: Config,
) -> None:
    """A process stuck holding .lock makes a commit fail with 'lock timeout', not hang."""
    store = JsonStore(config.settings.data_dir, lock_timeout=0.2)
    service = StatusService(config.estate.layout, store)
    holder = portalocker.Lock(config.settings.data_dir / ".lock", timeout=1)
    holder.acquire()
    try:
        with pytest.raises(StoreError) as failure:
            service.set("Planning", "Actuals", "OK", by="system")
        assert failure.value.reason == "lock timeout"
        assert "held by another process for over 0.2 s" in str(failure.value)
        assert service.write_health.failure is not None
    finally:
        holder.release()
    assert ("Planning", "Actuals") not in store.snapshot().records
    service.set("Planning", "Actuals", "OK", by="system")
    assert service.get("Planning", "Actuals").status is Status.OK
    assert service.write_health.failure is None
    store.close()
