"""The modal's one message is labelled as going to every changed domain, and does."""

from __future__ import annotations

from bot.model import MESSAGE_LIMIT
from bot.slack.modal import CALLBACK_ID, MESSAGE_BLOCK, update_modal
from tests.slack.conftest import ALICE, Running


def test_the_message_field_says_it_goes_to_every_changed_domain(running: Running) -> None:
    """Label and hint say where the message ends up and how to annotate one domain only."""
    view = update_modal(running.service).to_dict()
    [field] = [b for b in view["blocks"] if b.get("block_id") == MESSAGE_BLOCK]
    assert field["label"]["text"] == "Message for every domain you change"
    hint = field["hint"]["text"]
    assert f"up to {MESSAGE_LIMIT} characters" in hint
    assert "Saved on each domain whose status you change" in hint
    assert "/epmpulse status APP DOMAIN STATUS MESSAGE" in hint
    assert field["optional"] is True


def test_the_one_message_is_saved_on_each_changed_row_and_no_other(running: Running) -> None:
    """Two changed rows get the message; the unchanged row keeps its own."""
    running.service.set("Planning", "Actuals", "OK", "loaded", by="system")
    running.sandbox.open_shortcut(CALLBACK_ID, user_id=ALICE)
    view = running.sandbox.wait_for_modal(ALICE)
    rows = {
        b["label"]["text"]: b["block_id"]
        for b in view["blocks"]
        if b["type"] == "input" and b["block_id"] != MESSAGE_BLOCK
    }
    values = {rows["Forecast"]: "Warning", rows["Budget"]: "OK", MESSAGE_BLOCK: "reviewed"}
    ack = running.sandbox.submit_view(view["id"], values)
    assert ack.refusal is None
    messages = {r.domain: r.message for r in running.service.app_board("Planning")}
    assert messages == {"Actuals": "loaded", "Forecast": "reviewed", "Budget": "reviewed"}


def test_the_demo_shows_every_line_of_a_board_reply() -> None:
    """reply_lines turns a block reply into its lines, dates and mentions as plain text."""
    from bot.demo_scenario import reply_lines

    body = {
        "text": "EPM status of Planning",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": ":white_circle: Planning"}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*Actuals* — OK · <!date^1796021185^{date_short}|2026-11-30T06:46Z> "
                    "by <@U0ALICE>\n*Budget* — Pending · never set",
                },
            },
        ],
    }
    assert reply_lines(body) == [
        ":white_circle: Planning",
        "*Actuals* — OK · 2026-11-30T06:46Z by @U0ALICE",
        "*Budget* — Pending · never set",
    ]
    assert reply_lines({"text": "only text"}) == ["only text"]
