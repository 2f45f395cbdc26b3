"""The CLI: status, set and history with clear exit codes."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import Settings, field_env_vars


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
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "EPMPULSE_HTTP_PORT" in err and "EPMPULSE_LOG_FORMAT" in err
    assert "SLACK_BOT_TOKEN is required" in err


def test_one_shot_commands_validate_only_the_settings_they_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """status reports a bad log format but leaves a bad REST port and Slack token to run."""
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EPMPULSE_HTTP_PORT", "-1")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "not-a-token")
    assert main(["status"]) == 0
    assert "Planning" in capsys.readouterr().out
    monkeypatch.setenv("EPMPULSE_LOG_FORMAT", "xml")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "Invalid configuration (1 problem(s))" in err
    assert "EPMPULSE_LOG_FORMAT" in err and "EPMPULSE_HTTP_PORT" not in err


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


def test_history_takes_n_as_a_positional_argument(capsys: pytest.CaptureFixture[str]) -> None:
    """`history APP DOMAIN N` works like `-n N`, as in Slack."""
    for status in ("Loading", "OK", "Warning"):
        main(["set", "ARCS", "Reconciliation", status])
    capsys.readouterr()
    assert main(["history", "ARCS", "Reconciliation", "1"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1


def test_run_without_slack_settings_lists_what_is_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`run` with no tokens exits 2 naming every missing setting, before starting anything."""
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_CANVAS_ID or SLACK_CHANNEL_ID"):
        assert name in err


def test_check_reports_one_line_per_check_and_fails_without_slack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check` prints one line per check, names every app and domain, and exits 1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/api/"
    monkeypatch.setenv("SLACK_API_URL", url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-x")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-x")
    monkeypatch.delenv("SLACK_CHANNEL_ID", raising=False)
    monkeypatch.setenv("SLACK_CANVAS_ID", "F0BOARD")
    assert main(["check"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == (
        "ok   config: 3 app(s), 6 domain(s): Planning (Actuals, Forecast, Budget); "
        "FCCS (Actuals, Consolidation); ARCS (Reconciliation); EPM server(s): none"
    )
    assert lines[1].startswith("ok   store: ") and "does not exist yet" in lines[1]
    assert lines[2].startswith(f"FAIL slack: Slack could not be reached at {url}")
    assert lines[3] == "FAIL socket mode: not checked: Slack could not be reached"
    assert lines[4] == "ok   channel: SLACK_CHANNEL_ID is not set: no alerts are posted"
    assert lines[5] == "FAIL canvas: not checked: Slack could not be reached"


def test_check_reaches_slack_and_the_canvas(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Against the Slack sandbox, `check` passes with an existing canvas and fails without."""
    from bot.sandbox.slack import SlackSandbox

    with SlackSandbox() as slack:
        canvas_id = slack.create_canvas("# board")
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.bot_token)
        monkeypatch.setenv("SLACK_APP_TOKEN", slack.app_token)
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        monkeypatch.setenv("SLACK_CANVAS_ID", canvas_id)
        assert main(["check"]) == 0
        out = capsys.readouterr().out
        assert "ok   slack: " in out and f"ok   canvas: {canvas_id} exists" in out
        monkeypatch.setenv("SLACK_CANVAS_ID", "F0MISSING")
        assert main(["check"]) == 1
        assert "FAIL canvas: SLACK_CANVAS_ID F0MISSING: no such canvas" in capsys.readouterr().out
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong")
        assert main(["check"]) == 1
        assert "Slack refused the token (invalid_auth)" in capsys.readouterr().out


def test_set_without_a_status_does_not_call_the_message_required(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`set APP DOMAIN` names only STATUS as missing: the message is optional."""
    with pytest.raises(SystemExit) as exit_info:
        main(["set", "Planning", "Actuals"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "the following arguments are required: status\n" in err
    assert "message" not in err.splitlines()[-1]


@pytest.mark.parametrize(
    "argv",
    [
        ["history", "Planning", "Actuals", "5", "-n", "3"],
        ["history", "Planning", "Actuals", "-n", "2", "4"],
    ],
)
def test_history_refuses_n_given_twice(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """N as a positional and with -n at once is a clear error (exit 2), never a silent pick."""
    assert main(argv) == 2
    assert "Give the number of changes once" in capsys.readouterr().err


def test_history_takes_n_after_the_option_form_of_other_arguments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`history -n N APP DOMAIN` works too: N is given once, wherever it stands."""
    for status in ("Loading", "OK", "Warning"):
        main(["set", "ARCS", "Reconciliation", status])
    capsys.readouterr()
    assert main(["history", "-n", "2", "ARCS", "Reconciliation"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`epmpulse --version` prints the package version and exits 0."""
    from bot import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"epmpulse {__version__}"


@pytest.mark.parametrize("command", ["run", "check"])
def test_run_and_check_help_list_every_setting_from_the_settings_model(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run --help` and `check --help` list every variable bot.settings declares, one a line."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "settings read (environment; docs/settings.md):" in out
    for field in Settings.model_fields:
        names = ", ".join(field_env_vars(field))
        assert f"\n  {names}: " in out, names


def test_one_shot_commands_print_only_warnings_and_errors(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A first `set` logs nothing at INFO to stderr; EPMPULSE_LOG_LEVEL=INFO still shows it."""
    monkeypatch.delenv("EPMPULSE_LOG_LEVEL", raising=False)
    assert main(["set", "Planning", "Actuals", "OK"]) == 0
    assert capfd.readouterr().err == ""
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(Path.cwd() / "other"))
    monkeypatch.setenv("EPMPULSE_LOG_LEVEL", "INFO")
    assert main(["status"]) == 0
    assert "started an empty board" in capfd.readouterr().err
