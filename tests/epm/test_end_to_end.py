"""``/epmpulse track`` in Slack → Loading on the canvas → the job's result on the canvas."""

from __future__ import annotations

import json
from pathlib import Path

from bot.app import build_runtime
from bot.demo import Demo, demo_config, epm_sign_in
from bot.model import Status
from bot.sandbox.epm import EpmSandbox, script
from bot.sandbox.slack import SlackSandbox
from bot.sandbox.slack.records import Call

JOB_ID = "4711"


def canvas_lines(call: Call) -> list[str]:
    """The board lines of one canvases.edit call (whatever encoding the args use)."""
    text = json.dumps(call.args, ensure_ascii=False)
    return text.replace("\\\\n", "\n").replace("\\n", "\n").splitlines()


def shows(call: Call, *parts: str) -> bool:
    """Whether one table row of the published canvas contains every one of ``parts``."""
    return any(all(part in line for part in parts) for line in canvas_lines(call))


def test_tracking_a_job_in_slack_shows_loading_then_its_result_on_the_canvas(
    tmp_path: Path,
) -> None:
    """The whole ``run`` process: slash command, poller, store and canvas on the sandboxes."""
    with SlackSandbox() as slack, EpmSandbox() as epm:
        epm.add_job("planning", JOB_ID, script("ok", running=2), details="Actuals loaded")
        config = demo_config(slack, epm, tmp_path)
        epm_sign_in(config, epm, lambda _line: None)
        runtime = build_runtime(config)
        runtime.start()
        try:
            slack.wait_connected(5)
            demo = Demo(slack, epm, runtime)
            reply = demo.command(f"track Planning Actuals {JOB_ID}")
            assert "is now *Loading*" in reply
            slack.wait_for_call(
                "canvases.edit",
                where=lambda c: shows(c, "Loading", f"Tracking EPM job {JOB_ID} on planning"),
                timeout=10,
            )
            slack.wait_for_call(
                "canvases.edit",
                where=lambda c: shows(
                    c, ":large_green_circle: OK", "Actuals loaded", "epm:planning"
                ),
                timeout=15,
            )
            record = runtime.service.get("Planning", "Actuals")
            assert (record.status, record.jobs) == (Status.OK, ())
            assert epm.job_polls("planning", JOB_ID) == 3
        finally:
            runtime.stop()


def test_running_a_job_from_slack_shows_loading_then_its_result_on_the_canvas(
    tmp_path: Path,
) -> None:
    """``/epmpulse run``: one start reaches EPM, the canvas shows Loading, then the Error."""
    with SlackSandbox() as slack, EpmSandbox() as epm:
        epm.script_start("Aggregate Budget", ["running", "error"], details="Rule AGG failed")
        config = demo_config(slack, epm, tmp_path)
        epm_sign_in(config, epm, lambda _line: None)
        runtime = build_runtime(config)
        runtime.start()
        try:
            slack.wait_connected(5)
            reply = Demo(slack, epm, runtime).command("run Planning Budget")
            assert "Started *Aggregate Budget* on planning (job 1001)" in reply
            slack.wait_for_call(
                "canvases.edit",
                where=lambda c: shows(c, "Loading", "Started Aggregate Budget (job 1001)"),
                timeout=10,
            )
            slack.wait_for_call(
                "canvases.edit",
                where=lambda c: shows(c, ":red_circle: Error", "Rule AGG failed", "epm:planning"),
                timeout=15,
            )
            (start,) = epm.starts()
            assert start.body["jobName"] == "Aggregate Budget"
            assert runtime.service.get("Planning", "Budget").jobs == ()
        finally:
            runtime.stop()
