"""The whole app with a close calendar: the canvas shows Due and overdue, one alert, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import cli
from bot.app import build_runtime
from bot.close.part import ClosePart
from bot.config import load_config
from bot.sandbox.slack import SlackSandbox
from tests.close.conftest import CHANNEL
from tests.conftest import wait_until

# WD1 00:00 with no weekend is midnight on the 1st: past due whenever the test runs.
YAML = """
close:
  weekend: []
  deadlines:
    Planning/Actuals: "WD1 00:00"
  depends_on:
    FCCS/Actuals: [Planning/Actuals]
"""


def test_a_run_marks_a_past_deadline_overdue_on_the_canvas_and_alerts_once(
    sandbox: SlackSandbox, tmp_path: Path
) -> None:
    """``build_runtime`` adds the close part; the canvas and the channel show the deadline."""
    (tmp_path / "epmpulse.yml").write_text(YAML, encoding="utf-8")
    canvas_id = sandbox.create_canvas(title="EPM Status")
    config = load_config(
        {
            "EPMPULSE_DATA_DIR": str(tmp_path / "data"),
            "EPMPULSE_CONFIG": str(tmp_path / "epmpulse.yml"),
            "SLACK_BOT_TOKEN": sandbox.bot_token,
            "SLACK_APP_TOKEN": sandbox.app_token,
            "SLACK_API_URL": sandbox.api_url,
            "SLACK_CANVAS_ID": canvas_id,
            "SLACK_CHANNEL_ID": CHANNEL,
            "EPMPULSE_CANVAS_DEBOUNCE_SECONDS": "0.2",
            "EPMPULSE_HTTP_PORT": "0",
        },
        cwd=tmp_path,
    )
    runtime = build_runtime(config)
    runtime.start()
    try:
        # Scheduled work: the close part runs on the leader (the sole JSON-store instance).
        assert isinstance(runtime.leader_part("close"), ClosePart)
        wait_until(
            lambda: "· overdue |" in sandbox.canvas_markdown(canvas_id), "overdue on the canvas"
        )
        markdown = sandbox.canvas_markdown(canvas_id)
        assert "| Domain | Status | Message | Due | Updated | By |" in markdown
        assert ":white_circle: Pending · waiting on Planning/Actuals |" in markdown
        wait_until(lambda: len(sandbox.messages(CHANNEL)) == 1, "one alert")
        assert "*Planning / Actuals* is overdue: due WD1 00:00" in (
            sandbox.messages(CHANNEL)[0].text or ""
        )
        assert runtime.health()["close"].ok
    finally:
        runtime.stop()


def test_status_of_one_domain_prints_its_deadline_and_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``epmpulse status APP DOMAIN`` adds ``Due:`` (overdue) and ``Waiting on:`` lines."""
    (tmp_path / "epmpulse.yml").write_text(YAML, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("EPMPULSE_CONFIG", raising=False)
    assert cli.main(["status", "planning", "actuals"]) == 0
    out = capsys.readouterr().out
    assert "  Due: WD1 00:00 (" in out and " - OVERDUE" in out
    assert cli.main(["status", "fccs", "actuals"]) == 0
    out = capsys.readouterr().out
    assert "  Waiting on: Planning/Actuals" in out and "Due:" not in out


def test_a_shell_set_on_a_waiting_domain_succeeds_and_says_what_it_waits_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``epmpulse set`` saves the change and adds a ``waiting on:`` line (SPEC §11)."""
    (tmp_path / "epmpulse.yml").write_text(YAML, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("EPMPULSE_CONFIG", raising=False)
    assert cli.main(["set", "fccs", "actuals", "loading"]) == 0
    out = capsys.readouterr().out
    assert out == "FCCS Actuals: Pending -> Loading\n  waiting on: Planning/Actuals\n"
    assert cli.main(["set", "planning", "actuals", "ok"]) == 0
    assert capsys.readouterr().out == "Planning Actuals: Pending -> OK\n"
