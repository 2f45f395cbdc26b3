"""``/epmpulse hold|release``, the announcement's Hold button and ``/epmpulse close``'s list
of automatic starts (SPEC §17)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from slack_sdk import WebClient

from bot.close.conductor import HOLDS_META
from bot.sandbox.epm import EpmSandbox
from bot.sandbox.slack import DEFAULT_CHANNEL_ID
from bot.slack.editors import Editors
from bot.slack.holds import HOLD_ACTION, announcement, hold_from_button
from tests.close.conducting import estate_yaml
from tests.conftest import wait_until
from tests.slack.conftest import ALICE, BOB, MakeRunning, Running, body_text


@pytest.fixture
def app(make_running: MakeRunning) -> Iterator[Running]:
    """The Slack part over the chained conductor estate; ALICE is the only editor.

    The job specs (which domains start by themselves) come with the part's launcher.
    """
    with EpmSandbox(username="svc_epm", password="basic-password-9c1d") as epm:
        yield make_running(estate_yaml(epm), launcher=True, EPMPULSE_EDITORS=ALICE)


def test_an_editor_holds_and_releases_a_start(app: Running) -> None:
    """The replies say what happened and how to undo it; the hold is stored with the board."""
    reply = app.reply("hold fccs consolidation")
    assert "*FCCS / Consolidation* is now held" in reply
    assert "`/epmpulse release FCCS Consolidation`" in reply
    assert app.service.meta(HOLDS_META)["held"]["FCCS/Consolidation"]["by"] == f"slack:{ALICE}"
    assert "was already held" in app.reply("hold FCCS Consolidation")
    assert "is released" in app.reply("release FCCS Consolidation")
    assert app.service.meta(HOLDS_META)["held"] == {}


def test_a_non_editor_cannot_hold(app: Running) -> None:
    """BOB is refused and nothing is stored."""
    reply = app.reply("hold FCCS Consolidation", user=BOB)
    assert "not allowed" in reply
    assert app.service.meta(HOLDS_META) is None


def test_holding_a_domain_without_auto_start_names_the_ones_with_it(app: Running) -> None:
    """A clear error naming the valid choices."""
    reply = app.reply("hold Planning Actuals")
    assert "does not start by itself" in reply
    assert "FCCS/Actuals, FCCS/Consolidation, FCCS/Reporting" in reply


def test_close_lists_scheduled_starts_and_holds(app: Running) -> None:
    """Upstream OK: FCCS/Actuals is listed with its start time; a hold set ahead is listed."""
    app.reply("hold FCCS Reporting")
    app.service.set("Planning", "Actuals", "OK", by=f"slack:{ALICE}")
    reply = app.reply("close")
    assert "*Automatic starts (2)*" in reply
    assert "*FCCS/Actuals* (Load Actuals) — starts" in reply
    assert "*FCCS/Reporting* (Run Reports) — held by slack:" in reply


def test_the_hold_button_holds_for_an_editor_and_refuses_anyone_else(app: Running) -> None:
    """The button's value names the domain; a non-editor's click changes nothing."""
    editors = Editors([ALICE], WebClient())
    [refused] = hold_from_button(app.service, app.config.estate, editors, BOB, "FCCS/Actuals")
    assert refused.text.startswith(":no_entry:")
    assert app.service.meta(HOLDS_META) is None
    [held] = hold_from_button(app.service, app.config.estate, editors, ALICE, "FCCS/Actuals")
    assert "is now held" in held.text
    assert list(app.service.meta(HOLDS_META)["held"]) == ["FCCS/Actuals"]


def test_app_home_shows_what_starts_by_itself_and_when(app: Running) -> None:
    """The Home tab lists the scheduled start with its time and a hold set ahead."""
    app.reply("hold FCCS Reporting")
    app.service.set("Planning", "Actuals", "OK", by=f"slack:{ALICE}")
    app.sandbox.app_home_opened(ALICE)
    text = body_text(app.sandbox.wait_for_home_view(ALICE))
    assert "*Automatic starts (2)*" in text
    assert "*FCCS/Actuals* (Load Actuals) — starts <!date^" in text
    assert "*FCCS/Reporting* (Run Reports) — held by" in text


def test_clicking_hold_on_the_announcement_holds_for_an_editor_only(app: Running) -> None:
    """End to end: the posted announcement's button, clicked by BOB then by ALICE."""
    message = announcement("Load Actuals", "FCCS/Actuals", datetime.now(UTC), 2)
    poster = WebClient(token=app.sandbox.bot_token, base_url=app.sandbox.api_url)
    ts = poster.chat_postMessage(
        channel=DEFAULT_CHANNEL_ID, text=message.text, blocks=message.blocks
    )["ts"]

    def ephemerals() -> list[str]:
        return [m.text or "" for m in app.sandbox.messages(DEFAULT_CHANNEL_ID) if m.ephemeral]

    app.sandbox.message_action(DEFAULT_CHANNEL_ID, ts, HOLD_ACTION, user_id=BOB)
    wait_until(lambda: len(ephemerals()) == 1, "the answer to BOB")
    assert ephemerals()[0].startswith(":no_entry:")
    assert app.service.meta(HOLDS_META) is None
    app.sandbox.message_action(DEFAULT_CHANNEL_ID, ts, HOLD_ACTION, user_id=ALICE)
    wait_until(lambda: len(ephemerals()) == 2, "the answer to ALICE")
    assert "*FCCS / Actuals* is now held" in ephemerals()[1]
    assert app.service.meta(HOLDS_META)["held"]["FCCS/Actuals"]["by"] == f"slack:{ALICE}"
