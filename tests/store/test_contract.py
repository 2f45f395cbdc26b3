"""The Store contract, run against both stores: the JSON files and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.config import Config, Settings
from bot.lease import FencedError, Lease, claim_epoch
from bot.model import Status
from bot.service import StatusService
from bot.store import Store, WorkingState
from bot.store.factory import open_store
from tests.conftest import MakeConfig

ROOT = Path(__file__).resolve().parents[2]
OpenStore = Callable[[], Store]


@pytest.fixture(params=["json", "postgres"])
def store_config(request: pytest.FixtureRequest, make_config: MakeConfig) -> Config:
    """The default estate on the JSON store or on a fresh PostgreSQL schema."""
    if request.param == "json":
        return make_config()
    url: str = request.getfixturevalue("pg_url")
    return make_config(EPMPULSE_DATABASE_URL=url)


@pytest.fixture
def open_any(store_config: Config) -> Iterator[OpenStore]:
    """Open (another view of) the configured store; every one is closed afterwards."""
    opened: list[Store] = []

    def open_one() -> Store:
        store = open_store(store_config.settings)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def _set(work: WorkingState, key: tuple[str, str], status: str, message: str) -> int:
    work.put_record(key, {"app": key[0], "domain": key[1], "status": status, "message": message})
    work.add_history({"app": key[0], "domain": key[1], "new_status": status, "message": message})
    return work.version


def test_a_commit_is_visible_in_the_snapshot_with_a_higher_version(open_any: OpenStore) -> None:
    """commit returns the mutation's result; the snapshot shows record, meta and new version."""
    store = open_any()
    before = store.snapshot().version

    def change(work: WorkingState) -> str:
        _set(work, ("Planning", "Actuals"), "OK", "loaded")
        work.put_meta("marker", {"n": 1})
        return "done"

    assert store.commit(change) == "done"
    after = store.snapshot()
    assert after.version == before + 1
    assert after.records[("Planning", "Actuals")]["message"] == "loaded"
    assert after.meta["marker"] == {"n": 1}


def test_a_commit_by_one_store_is_seen_by_another_on_the_same_data(open_any: OpenStore) -> None:
    """Two store objects (two processes, two instances) read each other's commits."""
    first, second = open_any(), open_any()
    second.snapshot()
    first.commit(lambda work: _set(work, ("ARCS", "Reconciliation"), "Error", "from first"))
    seen = second.snapshot()
    assert seen.records[("ARCS", "Reconciliation")]["message"] == "from first"
    assert seen.version == first.snapshot().version
    second.commit(lambda work: work.put_meta("by", "second"))
    assert first.snapshot().meta["by"] == "second"


def test_a_mutation_runs_on_the_board_another_store_just_changed(open_any: OpenStore) -> None:
    """A store that has not read the other's commit still mutates the latest board.

    The history keeps the commit order: the other store's entry, then this one's.
    """
    first, second = open_any(), open_any()
    first.commit(lambda work: _set(work, ("Planning", "Actuals"), "OK", "one"))
    second.commit(lambda work: _set(work, ("Planning", "Actuals"), "Error", "two"))

    def append(work: WorkingState) -> str:
        seen = str(work.records[("Planning", "Actuals")]["message"])
        _set(work, ("Planning", "Actuals"), "OK", f"{seen} then three")
        return seen

    assert first.commit(append) == "two"
    assert [e["message"] for e in first.history()] == ["one", "two", "two then three"]
    versions = [e["version"] for e in first.history()]
    assert versions == sorted(versions) and len(set(versions)) == 3


def test_a_mutation_refused_on_an_old_board_is_retried_on_the_latest(open_any: OpenStore) -> None:
    """A mutation judges the latest board, not what this store last read: its result counts."""
    first, second = open_any(), open_any()
    first.snapshot()
    second.commit(lambda work: _set(work, ("ARCS", "Reconciliation"), "OK", "created"))

    def needs_record(work: WorkingState) -> str:
        record = work.records.get(("ARCS", "Reconciliation"))
        if record is None:
            raise LookupError("no record yet")
        return str(record["message"])

    assert first.commit(needs_record) == "created"


def test_a_commit_that_writes_nothing_reads_the_latest_board(open_any: OpenStore) -> None:
    """A read-only mutation sees another store's newer value, and the version stays put."""
    first, second = open_any(), open_any()
    first.commit(lambda work: work.put_meta("marker", "old"))
    second.commit(lambda work: work.put_meta("marker", "new"))
    version = second.snapshot().version
    assert first.commit(lambda work: work.meta.get("marker")) == "new"
    assert first.snapshot().version == version


def test_an_old_leader_is_fenced_off_by_a_store_that_never_read_the_new_epoch(
    open_any: OpenStore,
) -> None:
    """The epoch a newer leader claimed elsewhere refuses the old one's write (SPEC §15)."""
    old, new = open_any(), open_any()
    lease = Lease.held()
    lease.epoch = claim_epoch(old)
    claim_epoch(new)  # another instance leads now; ``old`` has not read it
    with pytest.raises(FencedError):
        old.commit(lease.fenced(lambda work: work.put_meta("cursor", "from the old leader")))
    assert "cursor" not in new.snapshot().meta


def test_history_is_oldest_first_filtered_and_limited(open_any: OpenStore) -> None:
    """history() filters by app and domain and keeps the newest ``limit`` entries."""
    store = open_any()
    for n in range(5):
        store.commit(lambda work, n=n: _set(work, ("Planning", "Actuals"), "OK", f"a{n}"))
        store.commit(lambda work, n=n: _set(work, ("FCCS", "Actuals"), "OK", f"f{n}"))
    assert [e["message"] for e in store.history("Planning", "Actuals", 3)] == ["a2", "a3", "a4"]
    assert [e["message"] for e in store.history("FCCS")] == [f"f{n}" for n in range(5)]
    assert len(store.history()) == 10
    versions = [e["version"] for e in store.history()]
    assert versions == sorted(versions)


def test_iter_history_streams_everything_and_after_skips_the_old(open_any: OpenStore) -> None:
    """iter_history yields every entry in commit order; iter_history_after only later ones."""
    store = open_any()

    def many(work: WorkingState, start: int) -> None:
        for n in range(start, start + 400):
            work.add_history({"app": "Planning", "domain": "Budget", "message": f"m{n}"})

    for start in range(0, 1200, 400):  # more than one PostgreSQL batch
        store.commit(lambda work, start=start: many(work, start))
    entries = list(store.iter_history())
    assert [e["message"] for e in entries] == [f"m{n}" for n in range(1200)]
    middle = entries[400]["version"]
    later = list(store.iter_history_after(middle))
    assert [e["message"] for e in later] == [f"m{n}" for n in range(800, 1200)]
    assert list(store.iter_history_after(entries[-1]["version"])) == []


def test_a_mutation_that_fails_half_way_changes_nothing(open_any: OpenStore) -> None:
    """A mutation raising after it changed the working state leaves no trace."""
    store = open_any()
    before = store.snapshot()

    def half_way(work: WorkingState) -> None:
        _set(work, ("Planning", "Actuals"), "Error", "half")
        work.put_meta("marker", 1)
        work.add_history({"app": "Planning", "domain": "Actuals", "new_status": "Error"})
        raise RuntimeError("broken on the second item")

    with pytest.raises(RuntimeError, match="second item"):
        store.commit(half_way)
    after = store.snapshot()
    assert after.version == before.version
    assert ("Planning", "Actuals") not in after.records and "marker" not in after.meta
    assert store.history() == []


def test_threads_share_commits_without_losing_updates(
    open_any: OpenStore, store_config: Config
) -> None:
    """16 threads x 25 sets: every update lands, each exactly once in the history."""
    store = open_any()
    service = StatusService(store_config.estate.layout, store)
    keys = store_config.estate.domain_keys()

    def work(n: int) -> None:
        for i in range(25):
            app, domain = keys[(n + i) % len(keys)]
            service.set(app, domain, "OK", f"t{n}-{i}", by="system")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    messages = [e["message"] for e in store.history()]
    assert len(messages) == 400 and len(set(messages)) == 400


WRITER = """
import sys
from bot.config import load_config
from bot.service import StatusService
from bot.store.factory import open_store

env, name, count = dict(a.split("=", 1) for a in sys.argv[3:]), sys.argv[1], int(sys.argv[2])
config = load_config(env)
service = StatusService(config.estate.layout, open_store(config.settings))
domains = config.estate.domain_keys()
for i in range(count):
    app, domain = domains[i % len(domains)]
    service.set(app, domain, "OK" if i % 2 else "Loading", f"{name}-{i}", by=f"api:{name}")
service.store.close()
"""


def _env_args(settings: Settings) -> list[str]:
    args = [f"EPMPULSE_DATA_DIR={settings.data_dir}"]
    if settings.database_url is not None:
        args.append(f"EPMPULSE_DATABASE_URL={settings.database_url.get_secret_value()}")
    return args


def test_four_processes_times_250_writes_lose_nothing(
    open_any: OpenStore, store_config: Config
) -> None:
    """4 processes x 250 sets: 1000 history entries in commit order, board = last change."""
    store = open_any()
    start = store.snapshot().version
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"w{n}", "250", *_env_args(store_config.settings)],
            cwd=ROOT,
        )
        for n in range(4)
    ]
    for proc in writers:
        assert proc.wait(timeout=120) == 0
    history = store.history()
    assert len(history) == 1000
    versions = [e["version"] for e in history]
    assert versions == sorted(versions) and len(set(versions)) == 1000
    assert store.snapshot().version == start + 1000
    for name in ("w0", "w1", "w2", "w3"):
        assert sum(1 for e in history if e["message"].startswith(f"{name}-")) == 250
    last: dict[tuple[str, str], str] = {}
    for entry in history:
        last[(entry["app"], entry["domain"])] = entry["message"]
    service = StatusService(store_config.estate.layout, store)
    for (app, domain), message in last.items():
        record = service.get(app, domain)
        assert record.message == message
        assert record.status in (Status.OK, Status.LOADING)
