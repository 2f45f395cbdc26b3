"""manifest.yml: the Slack app it creates can do everything the code asks Slack for."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.slack.commandline import COMMAND
from bot.slack.modal import CALLBACK_ID

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    """The parsed manifest."""
    loaded = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_subscription_dms_are_visible_in_a_read_only_messages_tab(
    manifest: dict[str, Any],
) -> None:
    """Without the Messages tab users never see their subscription DMs."""
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] is True
    assert home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is True


def test_scopes_cover_public_alerts_private_channels_and_replies(
    manifest: dict[str, Any],
) -> None:
    """Alerts reach a public channel uninvited; a private SLACK_CHANNEL_ID can be read."""
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "chat:write.public"} <= scopes  # alerts, DMs, ephemeral replies
    assert {"channels:read", "groups:read"} <= scopes  # conversations.info on the channel
    assert {"commands", "canvases:read", "canvases:write", "usergroups:read"} <= scopes


def test_the_command_and_shortcut_match_the_code(manifest: dict[str, Any]) -> None:
    """The slash command and the shortcut's callback_id are the ones the listeners handle."""
    features = manifest["features"]
    assert [c["command"] for c in features["slash_commands"]] == [COMMAND]
    assert [s["callback_id"] for s in features["shortcuts"]] == [CALLBACK_ID]
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_the_usage_hint_lists_every_sub_command(manifest: dict[str, Any]) -> None:
    """Slack shows usage_hint while typing /epmpulse: it names each sub-command the code has."""
    from bot.slack.subcommands import SUBCOMMANDS

    [command] = manifest["features"]["slash_commands"]
    words = set(command["usage_hint"].strip("[]").replace("|", " ").split())
    missing = [s.name for s in SUBCOMMANDS if s.name not in words]
    assert missing == []


def test_no_scope_is_requested_that_the_code_never_uses(manifest: dict[str, Any]) -> None:
    """users:read is not requested: no users.* method is called (the By column is a mention)."""
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert "users:read" not in scopes
    sources = (MANIFEST.parent / "bot").rglob("*.py")
    code = "\n".join(p.read_text(encoding="utf-8") for p in sources if "sandbox" not in p.parts)
    assert re.search(r"\.users_(info|list|lookupByEmail)\(", code) is None


def test_scopes_let_the_close_report_upload_and_open_a_dm(manifest: dict[str, Any]) -> None:
    """files_upload_v2 needs files:write; the DM fallback needs im:write (conversations.open)."""
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"files:write", "im:write"} <= scopes
