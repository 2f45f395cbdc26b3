"""Block Kit limits hold for a big estate: the strict sandbox refuses anything over them."""

from __future__ import annotations

import json

import pytest

from bot.model import Status
from bot.slack.modal import APP_ACTION, APP_BLOCK, CALLBACK_ID, MESSAGE_BLOCK
from tests.slack.conftest import ALICE, MakeRunning, Running, block_texts

LONG_APP = "Consolidation and Close " * 9  # 216 characters: over header and option limits
GIANT_DOMAINS = 230


def big_estate() -> str:
    """YAML for 130 small apps, one app with a very long name and one with 230 domains."""
    apps: dict[str, dict[str, list[str]]] = {
        f"App{n:03d}": {"domains": ["Actuals", "Forecast"]} for n in range(130)
    }
    apps[LONG_APP.strip()] = {"domains": ["Actuals"]}
    apps["Giant"] = {"domains": [f"Entity {n:03d} " + "x" * 60 for n in range(GIANT_DOMAINS)]}
    return json.dumps({"apps": apps})  # JSON is YAML


@pytest.fixture
def big(make_running: MakeRunning) -> Running:
    """The Slack part over the big estate."""
    return make_running(big_estate())


def test_the_whole_board_is_split_into_valid_messages(big: Running) -> None:
    """``status`` answers in at most five messages of at most 50 blocks, all accepted."""
    bodies = big.command("status", count=5)
    assert all(len(b["blocks"]) <= 50 for b in bodies)
    sections = [b for body in bodies for b in body["blocks"] if b["type"] == "section"]
    assert all(len(s["text"]["text"]) <= 3000 for s in sections)
    assert "/epmpulse status APP" in block_texts(bodies[-1]["blocks"])[-1]


def test_one_big_app_fits_in_one_message(big: Running) -> None:
    """A 230-domain app is packed into few sections of at most 3000 characters."""
    (body,) = big.command("status giant")
    sections = [b for b in body["blocks"] if b["type"] == "section"]
    assert 1 < len(sections) < 20
    text = "\n".join(s["text"]["text"] for s in sections)
    assert text.count("never set") == GIANT_DOMAINS


def test_app_home_stays_within_100_blocks(big: Running) -> None:
    """The Home tab of a big estate is published (trimmed with a note)."""
    big.sandbox.app_home_opened(ALICE)
    home = big.sandbox.wait_for_home_view(ALICE)
    assert len(home["blocks"]) == 100
    assert "/epmpulse status APP" in block_texts(home["blocks"])[-1]


def test_the_modal_pages_a_big_app_and_applies_a_change_on_a_later_page(big: Running) -> None:
    """App pages are offered in option groups; page 3 of Giant holds domains 191-230."""
    big.sandbox.open_shortcut(CALLBACK_ID)
    view = big.sandbox.wait_for_modal(ALICE)
    picker = view["blocks"][0]["accessory"]
    groups = picker["option_groups"]
    assert sum(len(g["options"]) for g in groups) == 130 + 1 + 3
    assert all(len(o["text"]["text"]) <= 75 for g in groups for o in g["options"])
    giant_page_3 = next(
        o for g in groups for o in g["options"] if o["text"]["text"] == "Giant (domains 191-230)"
    )
    big.sandbox.block_action(
        view["id"], APP_BLOCK, APP_ACTION, selected_option=giant_page_3["value"]
    )
    view = big.sandbox.wait_for_modal(where=lambda v: "Giant" in v["private_metadata"])
    rows = [b for b in view["blocks"] if b["type"] == "input" and b["block_id"] != MESSAGE_BLOCK]
    assert len(rows) == GIANT_DOMAINS - 190
    assert rows[9]["label"]["text"].startswith("Entity 199 ")
    big.sandbox.submit_view(view["id"], {rows[9]["block_id"]: "Error"})
    domain = rows[9]["label"]["text"]
    assert big.service.get("Giant", domain).status is Status.ERROR
