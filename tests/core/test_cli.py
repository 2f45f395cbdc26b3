"""The CLI: status, set and history with clear exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EPMPULSE_LOG_FORMAT", "text")
    monkeypatch.delenv("EPMPULSE_CONFIG", raising=False)
    return tmp_path / "data"


def test_set_then_status_shows_the_change(capsys: pytest.CaptureFixture[str]) -> None:
    """`set` writes durably and `status` shows it, with exit code 0."""
    assert main(["set", "planning", "actuals", "ok", "Loaded", "from", "GL"]) == 0
    assert capsys.readouterr().out.strip() == "Planning Actuals: Pending -> OK"
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "Planning\n  Actuals          OK       Loaded from GL  (" in out
    assert "by system)" in out
    assert "ARCS\n  Reconciliation   Pending  -  (never set)" in out


def test_status_of_one_domain_lists_its_last_changes(capsys: pytest.CaptureFixture[str]) -> None:
    """`status APP DOMAIN` shows the record and its last changes."""
    main(["set", "FCCS", "Consolidation", "loading"])
    main(["set", "FCCS", "Consolidation", "error", "Intercompany out of balance"])
    capsys.readouterr()
    assert main(["status", "fccs", "consolidation"]) == 0
    out = capsys.readouterr().out
    assert "Consolidation    Error    Intercompany out of balance" in out
    assert "Loading -> Error   system  Intercompany out of balance" in out
    assert "Pending -> Loading system" in out


def test_history_honours_n(capsys: pytest.CaptureFixture[str]) -> None:
    """`history APP DOMAIN -n N` prints the newest N changes."""
    for status in ("Loading", "OK", "Warning"):
        main(["set", "ARCS", "Reconciliation", status])
    capsys.readouterr()
    assert main(["history", "ARCS", "Reconciliation", "-n", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert "OK -> Warning" in lines[0] and "Loading -> OK" in lines[1]


def test_bad_input_exits_2_and_names_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown names exit 2 with the valid choices and the closest match."""
    assert main(["set", "Planning", "Actual", "OK"]) == 2
    err = capsys.readouterr().err
    assert "Unknown domain 'Actual' for Planning. Valid: Actuals, Forecast, Budget." in err
    assert "Did you mean Actuals?" in err
    assert main(["status", "Plannning"]) == 2
    assert "Did you mean Planning?" in capsys.readouterr().err
    assert main(["history", "Planning", "Actuals", "-n", "0"]) == 2


def test_a_bad_config_exits_2_listing_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken configuration is reported with every problem and exit code 2."""
    monkeypatch.setenv("EPMPULSE_HTTP_PORT", "-1")
    monkeypatch.setenv("EPMPULSE_LOG_FORMAT", "xml")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "Invalid configuration (2 problem(s))" in err
    assert "EPMPULSE_HTTP_PORT" in err and "EPMPULSE_LOG_FORMAT" in err


def test_an_unusable_data_dir_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data dir that cannot be created is a failure (exit 1), not a traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(blocker / "data"))
    assert main(["status"]) == 1
    assert "cannot use the data directory" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["status", "set", "history"])
def test_every_command_has_help(command: str) -> None:
    """`epmpulse COMMAND --help` describes the command and exits 0."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert f"usage: epmpulse {command}" in result.stdout


def test_missing_arguments_exit_2() -> None:
    """argparse errors (missing STATUS) exit 2 with usage."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "set", "Planning"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "the following arguments are required: domain, status" in result.stderr
