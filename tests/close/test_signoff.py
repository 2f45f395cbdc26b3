"""Sign-off in the close (SPEC §18): the canvas, the archive and the report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import build_runtime
from bot.canvas.render import render_board
from bot.close.archive import load_archive
from bot.config import load_config
from bot.report.model import build_report
from bot.report.summary import row_line
from bot.sandbox.slack import SlackSandbox
from bot.signoff import decide
from bot.slack.signoff import APPROVE_ACTION
from bot.slack.signoff_outbox import SignOffPart
from tests.close.conftest import CHANNEL, CLOSE_YAML, DECEMBER_START, MakeClose

SIGN_OFF_YAML = (
    CLOSE_YAML.format(reset="false")
    + """  sign_off:
    domains: [FCCS/Consolidation]
    approvers: [U0BOB]
"""
)
NOVEMBER = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # WD1 of the close of 2026-10


def test_the_canvas_shows_ok_awaiting_approval_then_who_signed_off(
    make_close: MakeClose,
) -> None:
    """A waiting row says "OK awaiting approval"; an approved one names the approver in By."""
    close = make_close(yaml_text=SIGN_OFF_YAML)
    service = close.service
    service.set("FCCS", "Consolidation", "OK", "tied out", by="slack:U0ALICE")

    def row() -> str:
        markdown = render_board(service.board(), title="EPM Status")
        return next(line for line in markdown.splitlines() if line.startswith("| Consolidation"))

    assert ":white_circle: Pending · OK awaiting approval" in row()
    pending = service.get("FCCS", "Consolidation").pending_approval
    assert pending is not None
    decide(
        service,
        "FCCS",
        "Consolidation",
        pending.id,
        by="slack:U0BOB",
        approve=True,
        is_approver=lambda user: user == "U0BOB",
    )
    approved = row()
    assert ":large_green_circle: OK |" in approved and "awaiting" not in approved
    assert approved.endswith("| ![](@U0ALICE), signed off by ![](@U0BOB) |")


def test_the_archive_keeps_the_approver_and_ok_at_is_the_approval_time(
    make_close: MakeClose,
) -> None:
    """ok_at is when the OK was approved, not requested; the report marks it signed off."""
    close = make_close(yaml_text=SIGN_OFF_YAML, now=NOVEMBER)
    close.part.start()
    service = close.service
    service.set("FCCS", "Consolidation", "OK", by="api:ci")
    service.set("FCCS", "Actuals", "OK", by="api:ci")  # not under sign-off
    pending = service.get("FCCS", "Consolidation").pending_approval
    assert pending is not None
    close.clock.now = NOVEMBER + timedelta(hours=5)
    decide(
        service,
        "FCCS",
        "Consolidation",
        pending.id,
        by="slack:U0BOB",
        approve=True,
        is_approver=lambda user: user == "U0BOB",
    )
    close.clock.now = DECEMBER_START
    close.part.tick()

    meta = service.store.snapshot().meta
    archive = load_archive(meta, "2026-10")
    assert archive is not None
    domains = {(d["app"], d["domain"]): d for d in archive["domains"]}
    consolidation = domains[("FCCS", "Consolidation")]
    assert consolidation["ok_at"] == "2026-11-02T14:00:00Z"
    assert consolidation["approved_by"] == "slack:U0BOB"
    assert "approved_by" not in domains[("FCCS", "Actuals")]

    report = build_report(meta, "2026-10", ZoneInfo("Europe/London"))
    lines = {row.label: row_line(row) for row in report.rows}
    assert lines["FCCS / Consolidation"].endswith(" — signed off")
    assert "signed off" not in lines["FCCS / Actuals"]


def test_a_run_posts_the_request_and_updates_it_after_the_click(
    sandbox: SlackSandbox, tmp_path: Path
) -> None:
    """``build_runtime`` adds the leader's sign-off part; a click decides, the message follows."""
    (tmp_path / "epmpulse.yml").write_text(SIGN_OFF_YAML, encoding="utf-8")
    config = load_config(
        {
            "EPMPULSE_DATA_DIR": str(tmp_path / "data"),
            "EPMPULSE_CONFIG": str(tmp_path / "epmpulse.yml"),
            "SLACK_BOT_TOKEN": sandbox.bot_token,
            "SLACK_APP_TOKEN": sandbox.app_token,
            "SLACK_API_URL": sandbox.api_url,
            "SLACK_CHANNEL_ID": CHANNEL,
            "EPMPULSE_HTTP_PORT": "0",
        },
        cwd=tmp_path,
    )
    runtime = build_runtime(config)
    runtime.start()
    try:
        assert isinstance(runtime.leader_part("signoff"), SignOffPart)
        runtime.service.set("FCCS", "Consolidation", "OK", "tied out", by="api:ci")
        posted = sandbox.wait_for_call(
            "chat.postMessage", where=lambda c: "awaiting approval" in str(c.args.get("text"))
        )
        assert posted.ok and posted.args.get("channel") == CHANNEL
        sandbox.wait_connected(5)
        sandbox.message_action(CHANNEL, posted.response["ts"], APPROVE_ACTION, user_id="U0BOB")
        updated = sandbox.wait_for_call("chat.update")
        assert "OK approved" in str(updated.args.get("text"))
        record = runtime.service.get("FCCS", "Consolidation")
        assert (record.status.value, record.approved_by) == ("OK", "slack:U0BOB")
        assert runtime.health()["signoff"].ok
    finally:
        runtime.stop()
