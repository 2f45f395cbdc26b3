"""``epmpulse import DATA_DIR``: a JSON store copied into PostgreSQL, once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import cli
from bot.config import Config
from bot.model import format_time
from bot.service import StatusService
from bot.slack.delivery import CURSOR_META
from bot.store import JsonStore
from bot.store.postgres import PostgresStore
from tests.conftest import MakeConfig


@pytest.fixture
def json_dir(config: Config) -> Path:
    """A JSON data dir with three changes, a subscription, a canvas and a rotated token."""
    data_dir = config.settings.data_dir
    store = JsonStore(data_dir)
    service = StatusService(config.estate.layout, store)
    service.set("Planning", "Actuals", "Loading", "started", by="slack:U0ALICE")
    service.set("Planning", "Actuals", "OK", "done", by="api:ci")
    service.set("ARCS", "Reconciliation", "Error", "3 breaks", by="epm:arcs")
    service.set_meta("slack_subscriptions", [{"user": "U0BOB", "app": "ARCS", "domain": None}])
    service.set_meta("canvas", {"id": "F0CANVAS", "channel_id": "C0ALERTS"})
    store.close()
    tokens = data_dir / "tokens"
    tokens.mkdir(mode=0o700)
    (tokens / "planning.json").write_text(
        json.dumps({"refresh_token": "rotated-7", "configured_sha256": "abc"})
    )
    return data_dir


def _run_import(
    data_dir: Path, url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    monkeypatch.setenv("EPMPULSE_DATABASE_URL", url)
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(data_dir.parent / "unused"))
    code = cli.main(["import", str(data_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def test_import_copies_board_history_and_bookkeeping_with_original_authors_and_times(
    json_dir: Path,
    pg_url: str,
    config: Config,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Records, every history entry (times, authors, versions) and meta arrive unchanged."""
    source = JsonStore(json_dir)
    expected_history = source.history()
    expected = source.snapshot()
    source.close()
    code, out, _ = _run_import(json_dir, pg_url, monkeypatch, capsys)
    assert code == 0
    assert "imported 2 record(s), 3 change(s)" in out and "password" not in out
    store = PostgresStore(pg_url)
    try:
        assert store.history() == expected_history
        snapshot = store.snapshot()
        assert dict(snapshot.records) == dict(expected.records)
        assert snapshot.meta["canvas"] == {"id": "F0CANVAS", "channel_id": "C0ALERTS"}
        assert snapshot.meta["slack_subscriptions"][0]["user"] == "U0BOB"
        assert snapshot.meta["epm_refresh_token:planning"]["refresh_token"] == "rotated-7"
        assert snapshot.version >= expected.version
        service = StatusService(config.estate.layout, store)
        (last,) = service.history("Planning", "Actuals", 1)
        assert (last.by, last.message) == ("api:ci", "done")
        assert format_time(last.at) == expected_history[1]["at"]
        # The board goes on after the imported versions.
        service.set("FCCS", "Actuals", "OK", by="system")
        assert store.history()[-1]["version"] > expected_history[-1]["version"]
    finally:
        store.close()


def test_importing_again_changes_nothing(
    json_dir: Path,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A second import, also after the database moved on, writes nothing and says so."""
    assert _run_import(json_dir, pg_url, monkeypatch, capsys)[0] == 0
    store = PostgresStore(pg_url)
    try:
        store.commit(lambda work: work.put_meta("later", True))
        before = (store.snapshot().version, store.history())
        code, out, _ = _run_import(json_dir, pg_url, monkeypatch, capsys)
        assert code == 0 and "already imported (3 change(s)); nothing changed" in out
        assert (store.snapshot().version, store.history()) == before
    finally:
        store.close()


def test_a_database_with_a_different_history_is_refused(
    json_dir: Path,
    pg_url: str,
    make_config: MakeConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A database that saw other changes is left alone, with a clear message and exit 2."""
    config = make_config(EPMPULSE_DATABASE_URL=pg_url)
    store = PostgresStore(pg_url)
    try:
        StatusService(config.estate.layout, store).set("FCCS", "Actuals", "Error", by="system")
        before = store.history()
        code, _, err = _run_import(json_dir, pg_url, monkeypatch, capsys)
        assert code == 2
        assert "already holds a different history" in err and "refusing" in err
        assert store.history() == before
    finally:
        store.close()


def test_a_directory_changed_since_its_import_is_refused_naming_both_ways_on(
    json_dir: Path,
    pg_url: str,
    config: Config,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The refusal says what to do next: a fresh database, or go on from this one."""
    assert _run_import(json_dir, pg_url, monkeypatch, capsys)[0] == 0
    source = JsonStore(json_dir)
    StatusService(config.estate.layout, source).set("FCCS", "Actuals", "OK", by="system")
    source.close()
    code, _, err = _run_import(json_dir, pg_url, monkeypatch, capsys)
    assert code == 2
    assert "it was changed since it was imported. Refusing." in err
    assert "import it into a fresh database" in err and "`epmpulse import` again" in err
    assert "continue from the database as it is (`epmpulse run`" in err


def test_import_without_a_database_url_or_data_is_bad_input(
    json_dir: Path,
    tmp_path: Path,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No EPMPULSE_DATABASE_URL, or a directory without state.json: exit 2, clear message."""
    monkeypatch.delenv("EPMPULSE_DATABASE_URL", raising=False)
    assert cli.main(["import", str(json_dir)]) == 2
    assert "EPMPULSE_DATABASE_URL is not set" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _run_import(empty, pg_url, monkeypatch, capsys)
    assert code == 2 and "holds no EPMPulse data" in err


def test_an_import_into_a_used_database_moves_the_board_forward_and_alerts_nothing_old(
    json_dir: Path,
    pg_url: str,
    config: Config,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After an instance kept bookkeeping there: running stores see the import; no old alert."""
    running = PostgresStore(pg_url)  # an instance that started once on the new database
    try:
        for n in range(10):
            running.commit(lambda work, n=n: work.put_meta("bookkeeping", n))
        used = running.snapshot().version
        code, _, _ = _run_import(json_dir, pg_url, monkeypatch, capsys)
        assert code == 0
        after = running.snapshot()
        assert after.version > used
        assert after.records[("Planning", "Actuals")]["status"] == "OK"
        assert after.meta[CURSOR_META] == {"version": after.version}
        assert list(running.iter_history_after(after.meta[CURSOR_META]["version"])) == []
    finally:
        running.close()
