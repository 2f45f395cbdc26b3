"""The whole app (``build_runtime``) keeps the sandbox canvas current; the CLI shows it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import cli
from bot.app import build_runtime
from bot.canvas.render import render_board
from bot.config import Config
from bot.runtime import Runtime
from bot.sandbox.slack import SlackSandbox
from bot.service import StatusService
from bot.store import JsonStore
from tests.canvas.conftest import MakeSlackConfig, wait_for_canvas

DEBOUNCE = 1.0


@pytest.fixture
def app_config(make_slack_config: MakeSlackConfig, canvas_id: str) -> Config:
    """The full app's settings against the sandbox, with a one-second debounce."""
    return make_slack_config(
        SLACK_CANVAS_ID=canvas_id,
        EPMPULSE_CANVAS_DEBOUNCE_SECONDS=str(DEBOUNCE),
        EPMPULSE_HTTP_PORT="0",
    )


@pytest.fixture
def app(app_config: Config, sandbox: SlackSandbox, canvas_id: str) -> Iterator[Runtime]:
    """``epmpulse run`` in-process, connected, with the initial board on the canvas."""
    runtime = build_runtime(app_config)
    runtime.start()
    try:
        sandbox.wait_connected(5.0)
        sandbox.wait_for_call("canvases.edit", timeout=5.0)
        yield runtime
    finally:
        runtime.stop()


def test_a_slash_command_set_reaches_the_canvas_with_the_next_publish(
    app: Runtime, sandbox: SlackSandbox, canvas_id: str
) -> None:
    """``/epmpulse status APP DOMAIN STATUS MSG`` shows on the canvas at the next tick."""
    row = "| Actuals | :large_green_circle: OK | Loaded from Slack |"
    before = len(sandbox.calls("canvases.edit"))
    sandbox.send_command("status Planning Actuals ok Loaded from Slack", user_id="U0ALICE")
    wait_for_canvas(sandbox, canvas_id, row, timeout=DEBOUNCE + 3.0)
    edits = sandbox.calls("canvases.edit")[before:]
    assert len(edits) == 1 and row in json.dumps(edits[0].args)
    assert "![](@U0ALICE)" in sandbox.canvas_markdown(canvas_id)


def test_slash_refresh_republishes_an_unchanged_canvas(
    app: Runtime, sandbox: SlackSandbox, canvas_id: str
) -> None:
    """``/epmpulse refresh`` re-sends the whole document at the next tick."""
    before = len(sandbox.calls("canvases.edit"))
    sandbox.send_command("refresh")
    sandbox.wait_for_call("canvases.edit", count=before + 1, timeout=DEBOUNCE + 3.0)
    assert len(sandbox.calls("canvases.edit")) == before + 1


def test_the_health_check_includes_the_canvas(app: Runtime, canvas_id: str) -> None:
    """The runtime's health has a passing ``canvas`` check naming the canvas."""
    check = app.health()["canvas"]
    assert check.ok
    assert canvas_id in check.detail


def test_epmpulse_render_prints_the_canvas_markdown(
    config: Config, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``epmpulse render`` prints exactly what would be published."""
    store = JsonStore(config.settings.data_dir)
    service = StatusService(config.estate.layout, store)
    service.set("FCCS", "Consolidation", "error", "Rule | 12", by="api:ci")
    expected = render_board(service.board(), title="EPM Status", timezone="UTC")
    store.close()
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(config.settings.data_dir))
    monkeypatch.delenv("EPMPULSE_CONFIG", raising=False)
    monkeypatch.chdir(config.settings.data_dir)
    assert cli.main(["render"]) == 0
    out = capsys.readouterr().out
    assert out == expected
    assert "| Consolidation | :red_circle: Error | Rule \\| 12 |" in out


@pytest.mark.slow
def test_epmpulse_demo_runs_on_its_own_and_prints_the_canvas(tmp_path: Path) -> None:
    """``epmpulse demo`` needs no credentials, exits 0 and shows every step's outcome.

    Besides slash commands and the modal: an EPM job tracked to OK, one started with
    ``run``, a REST call with its curl twin, then the final canvas and the Slack calls.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "EPMPULSE_"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])  # this checkout's bot
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "# EPM Status (demo)" in out
    assert "EPM sign-in: epmpulse epm login planning (OAuth 2 device flow)" in out
    assert re.search(r"and enter the code: [A-Z]{4}-[A-Z]{4}\n", out)
    assert "-> signed in; refresh token stored in " in out
    assert "| Consolidation | :red_circle: Error | Rule 12 failed \\| see log |" in out
    # The modal's one message fits both changed rows, and step 7 shows the rows it asks for.
    assert "| Forecast | :large_yellow_circle: Warning | Reviewed in the close call |" in out
    # Budget was then run as an EPM job (step 6), whose result replaced the modal's message.
    assert "| Budget | :large_green_circle: OK | Budget aggregated |" in out
    assert "8. /epmpulse status Planning\n   -> :large_yellow_circle: Planning\n" in out
    assert re.search(r"\n      :large_yellow_circle: \*Forecast\* — Warning · Reviewed", out)
    # The close step shows the whole summary, overdue and waiting sections included.
    assert "10. /epmpulse close\n   -> *Close of " in out
    assert "      :rotating_light: *Overdue (1)*\n" in out
    assert "• :red_circle: Error *FCCS/Consolidation* — due WD1 00:00" in out
    assert "      :hourglass: *Waiting (1)*\n" in out
    assert "*ARCS/Reconciliation* — waits on FCCS/Consolidation" in out
    assert "conversations.canvases.create" in out
    assert "canvases.edit" in out
    assert "canvas up to date" in out
    # The tracked EPM job: Loading at once, OK once the sandbox job ends.
    assert "EPM job 4711: /epmpulse track Planning Actuals 4711" in out
    assert "*Planning / Actuals* is now *Loading*" in out
    assert "Planning Actuals is OK (Actuals loaded, by epm:planning) after 3 EPM poll(s)" in out
    assert "| Actuals | :large_green_circle: OK | Actuals loaded |" in out
    # The job started from Slack with run, followed to OK.
    assert "EPM job start: /epmpulse run Planning Budget" in out
    assert "Started *Aggregate Budget* on planning (job 1001)" in out
    assert "Planning Budget is OK (Budget aggregated, by epm:planning)" in out
    # The REST call, its outcome and a curl command for the real port.
    assert "REST API: POST /api/v1/status FCCS Actuals OK" in out
    assert "-> HTTP 200 FCCS Actuals is now OK (api:demo)" in out
    assert re.search(r"curl -sS -X POST http://127\.0\.0\.1:[1-9][0-9]*/api/v1/status", out)
    assert '-H "Authorization: Bearer $EPMPULSE_KEY"' in out
    assert "The demo's API key is demo-key" in out
    assert "| Actuals | :large_green_circle: OK | Posted through the REST API |" in out
    # That OK made FCCS Reporting's upstream OK: the close conductor started it by itself.
    assert "9. close conductor: FCCS Reporting starts by itself" in out
    assert "Starting *Run Reports* for *FCCS / Reporting* now" in out
    assert "FCCS Reporting started by system (Started Run Reports (job 1002)), then OK" in out
    # It ends with a close report over six clearly labelled sample closes, kept as a PNG.
    assert 'SAMPLE archives (marked "sample": true)' in out
    assert "shared in C0GENERAL: *Close " in out
    (written,) = (tmp_path / "epmpulse-demo").glob("epmpulse-close-*.png")
    assert f"close report PNG written to {written}" in out
    assert written.read_bytes().startswith(b"\x89PNG")
