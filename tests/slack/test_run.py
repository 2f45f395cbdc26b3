"""``/epmpulse run`` and App Home's Run button, end to end against both sandboxes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.epm.client import EpmClient
from bot.epm.poller import Poller
from bot.model import Status
from bot.sandbox.epm import EpmSandbox
from bot.sandbox.slack.payloads import dm_channel
from bot.slack.jobs import RUN_JOB_ACTION
from tests.epm.conftest import start_posts
from tests.slack.conftest import ALICE, BOB, MakeRunning, Running, body_text

HP_JOBS = "/HyperionPlanning/rest/v3/applications/Vision/jobs"


@pytest.fixture
def epm() -> Iterator[EpmSandbox]:
    """A started EPM sandbox."""
    with EpmSandbox(username="svc", password="pw") as sandbox:
        yield sandbox


def estate_yaml(epm: EpmSandbox, timeout: float = 5) -> str:
    """Planning with a job for Actuals, FCCS without jobs, on the sandbox."""
    return f"""
apps:
  Planning:
    domains: [Actuals, Forecast]
    server: planning
    jobs:
      Actuals: {{type: RULES, name: Aggregate Actuals, parameters: {{Period: "$PERIOD"}}}}
  FCCS: {{domains: [Consolidation]}}
epm:
  servers:
    planning:
      kind: planning
      base_url: {epm.base_url}
      application: Vision
      timeout_seconds: {timeout}
      auth: {{type: basic, username: svc, password: pw}}
"""


@pytest.fixture
def app(make_running: MakeRunning, epm: EpmSandbox) -> Running:
    """The Slack part with a launcher; ALICE is the only editor."""
    return make_running(estate_yaml(epm), launcher=True, EPMPULSE_EDITORS=ALICE)


def poll(app: Running, times: int) -> None:
    """Run ``times`` poll cycles with a real client."""
    server = app.config.estate.epm.servers["planning"]
    client = EpmClient("planning", server, data_dir=app.config.settings.data_dir)
    poller = Poller(app.service, {"planning": client})
    try:
        for _ in range(times):
            poller.run_cycle()
    finally:
        poller.close()
        client.close()


@pytest.mark.parametrize(
    ("outcome", "status", "details"),
    [("ok", Status.OK, "Aggregation done"), ("error", Status.ERROR, "Rule AGG failed: no POV")],
)
def test_run_starts_the_job_sets_loading_and_the_poller_resolves_it(
    app: Running, epm: EpmSandbox, outcome: Any, status: Status, details: str
) -> None:
    """run -> Loading "Started … (job N)" by the user -> OK or Error with EPM's details."""
    epm.script_start("Aggregate Actuals", ["running", outcome], details=details)
    reply = app.reply("run planning actuals")
    assert "Started *Aggregate Actuals* on planning (job 1001)" in reply
    assert "*Planning / Actuals* is now *Loading*" in reply
    record = app.service.get("Planning", "Actuals")
    assert (record.status, record.message) == (
        Status.LOADING,
        "Started Aggregate Actuals (job 1001)",
    )
    assert record.updated_by == f"slack:{ALICE}"
    assert len(start_posts(epm)) == 1
    poll(app, 2)
    record = app.service.get("Planning", "Actuals")
    assert (record.status, record.message, record.updated_by) == (status, details, "epm:planning")


def test_a_non_editor_is_refused_before_epm_is_called(app: Running, epm: EpmSandbox) -> None:
    """BOB may read but not run jobs: refused, zero POSTs, nothing changed."""
    reply = app.reply("run Planning Actuals", user=BOB)
    assert reply.startswith(":no_entry: You are not allowed to change statuses")
    assert len(start_posts(epm)) == 0
    assert app.service.get("Planning", "Actuals").status is Status.PENDING


def test_a_domain_without_a_job_is_refused_naming_those_with_one(
    app: Running, epm: EpmSandbox
) -> None:
    """No job: the reply names the domains that have one; zero POSTs."""
    reply = app.reply("run Planning Forecast")
    assert "Planning / Forecast has no EPM job to run" in reply
    assert "Domains of Planning with one: Actuals." in reply
    assert "Domains with one: Planning / Actuals." in app.reply("run FCCS Consolidation")
    assert len(start_posts(epm)) == 0


def test_a_domain_still_running_a_job_is_refused_without_a_second_post(
    app: Running, epm: EpmSandbox
) -> None:
    """A second run while job 1001 is unfinished: "already running: job 1001", one POST."""
    app.reply("run Planning Actuals")
    reply = app.reply("run Planning Actuals")
    assert "Planning / Actuals is already running: job 1001" in reply
    assert len(start_posts(epm)) == 1


def test_epm_refusing_is_reported_with_its_message_and_nothing_changes(
    app: Running, epm: EpmSandbox
) -> None:
    """EPM's own message is shown; the status is unchanged."""
    epm.refuse_start("Aggregate Actuals", 400, "Invalid rule name Aggregate Actuals.")
    reply = app.reply("run Planning Actuals")
    assert reply.startswith(":x: EPM did not start the job of *Planning / Actuals*")
    assert "Invalid rule name Aggregate Actuals." in reply
    assert "is unchanged" in reply
    assert app.service.get("Planning", "Actuals").status is Status.PENDING


def test_a_lost_answer_says_the_job_may_have_started_and_how_to_track_it(
    make_running: MakeRunning, epm: EpmSandbox
) -> None:
    """A timeout after sending: "may have started; check EPM", never a plain failure."""
    app = make_running(estate_yaml(epm, timeout=0.3), launcher=True)
    epm.set_latency(1.0, HP_JOBS)
    reply = app.reply("run Planning Actuals")
    assert "may have started; check the EPM job console" in reply
    assert "`/epmpulse track Planning Actuals JOB_ID`" in reply
    assert len(start_posts(epm)) == 1
    assert app.service.get("Planning", "Actuals").status is Status.PENDING


def test_help_lists_run(app: Running) -> None:
    """The help shows the run usage."""
    assert "`/epmpulse run APP DOMAIN` — start the domain's EPM job" in app.reply("help")


def run_buttons(home: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(block, button)`` of every Run button in a Home view."""
    return [
        (block, block["accessory"])
        for block in home["blocks"]
        if (block.get("accessory") or {}).get("action_id") == RUN_JOB_ACTION
    ]


def test_app_home_shows_a_run_button_with_a_confirmation_to_editors_only(
    app: Running,
) -> None:
    """Editors see Run (with a confirm dialog) on rows with a job; readers see none."""
    app.sandbox.app_home_opened(ALICE)
    home = app.sandbox.wait_for_home_view(ALICE)
    ((block, button),) = run_buttons(home)
    assert "Actuals" in block["text"]["text"]
    assert json.loads(button["value"]) == {"app": "Planning", "domain": "Actuals"}
    confirm = button["confirm"]
    assert confirm["title"]["text"] == "Start the EPM job?"
    assert "Aggregate Actuals" in confirm["text"]["text"]
    assert (confirm["confirm"]["text"], confirm["deny"]["text"]) == ("Run", "Cancel")
    text = body_text(home)
    assert "Forecast" in text and "Consolidation" in text
    app.sandbox.app_home_opened(BOB)
    assert run_buttons(app.sandbox.wait_for_home_view(BOB)) == []


def test_the_run_button_starts_the_job_and_tells_the_user(app: Running, epm: EpmSandbox) -> None:
    """Clicking Run (after confirming) starts the job once, DMs the outcome, refreshes Home."""
    app.sandbox.app_home_opened(ALICE)
    home = app.sandbox.wait_for_home_view(ALICE)
    ((block, _button),) = run_buttons(home)
    app.sandbox.block_action(home["id"], block["block_id"], RUN_JOB_ACTION, user_id=ALICE)
    app.sandbox.wait_for_call("chat.postMessage", where=lambda c: c.args.get("channel") == ALICE)
    (message,) = app.sandbox.messages(dm_channel(ALICE))
    assert "Started *Aggregate Actuals* on planning (job 1001)" in (message.text or "")
    assert app.service.get("Planning", "Actuals").status is Status.LOADING
    refreshed = app.sandbox.wait_for_home_view(
        ALICE, where=lambda view: "Started Aggregate Actuals" in body_text(view)
    )
    assert run_buttons(refreshed)
    assert len(start_posts(epm)) == 1


def test_a_run_click_by_someone_no_longer_an_editor_is_refused_without_epm(
    app: Running, epm: EpmSandbox
) -> None:
    """A stale Run button clicked by a non-editor: a DM saying why, zero POSTs."""
    app.sandbox.app_home_opened(ALICE)
    home = app.sandbox.wait_for_home_view(ALICE)
    ((block, _button),) = run_buttons(home)
    app.sandbox.block_action(home["id"], block["block_id"], RUN_JOB_ACTION, user_id=BOB)
    app.sandbox.wait_for_call("chat.postMessage", where=lambda c: c.args.get("channel") == BOB)
    (message,) = app.sandbox.messages(dm_channel(BOB))
    assert (message.text or "").startswith(":no_entry: You are not allowed to change statuses")
    assert len(start_posts(epm)) == 0
    assert app.service.get("Planning", "Actuals").status is Status.PENDING
