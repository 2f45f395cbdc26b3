"""The payloads Slack puts inside Socket Mode envelopes, field for field.

Shapes follow what Slack sends to a Socket Mode app: slash commands as the form fields
(all strings), interactivity payloads (``shortcut``, ``block_actions``,
``view_submission``) and Events API ``event_callback`` wrappers.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from bot.sandbox.slack.records import Identity, User


def dm_channel(user_id: str) -> str:
    """The id of the app's direct-message channel with ``user_id``."""
    return "D" + user_id[1:]


def _team(ident: Identity) -> dict[str, Any]:
    return {"id": ident.team_id, "domain": ident.team_domain}


def _user(ident: Identity, user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": ident.team_id}


def slash_command(
    ident: Identity,
    user: User,
    *,
    command: str,
    text: str,
    channel_id: str,
    channel_name: str,
    response_url: str | None,
    trigger_id: str,
) -> dict[str, Any]:
    """A ``slash_commands`` payload; without ``response_url`` (None) the field is left out."""
    payload: dict[str, Any] = {
        "token": ident.verification_token,
        "team_id": ident.team_id,
        "team_domain": ident.team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user.id,
        "user_name": user.name,
        "command": command,
        "text": text,
        "api_app_id": ident.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }
    if response_url is None:
        del payload["response_url"]
    return payload


def shortcut(ident: Identity, user: User, *, callback_id: str, trigger_id: str) -> dict[str, Any]:
    """A global ``shortcut`` payload."""
    return {
        "type": "shortcut",
        "token": ident.verification_token,
        "action_ts": f"{time.time():.6f}",
        "team": _team(ident),
        "user": _user(ident, user),
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
    }


def block_actions(
    ident: Identity,
    user: User,
    *,
    view: dict[str, Any],
    action: dict[str, Any],
    trigger_id: str,
) -> dict[str, Any]:
    """A ``block_actions`` payload for an element inside a modal or the App Home."""
    return {
        "type": "block_actions",
        "user": _user(ident, user),
        "api_app_id": ident.app_id,
        "token": ident.verification_token,
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": trigger_id,
        "team": _team(ident),
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view,
        "actions": [action],
    }


def message_block_actions(
    ident: Identity,
    user: User,
    *,
    channel: str,
    message: dict[str, Any],
    action: dict[str, Any],
    trigger_id: str,
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button in a message posted to ``channel``."""
    return {
        "type": "block_actions",
        "user": _user(ident, user),
        "api_app_id": ident.app_id,
        "token": ident.verification_token,
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": _team(ident),
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel},
        "message": message,
        "actions": [action],
    }


def view_submission(
    ident: Identity, user: User, *, view: dict[str, Any], trigger_id: str
) -> dict[str, Any]:
    """A ``view_submission`` payload; ``view.state.values`` holds what the user entered."""
    return {
        "type": "view_submission",
        "team": _team(ident),
        "user": _user(ident, user),
        "api_app_id": ident.app_id,
        "token": ident.verification_token,
        "trigger_id": trigger_id,
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def app_home_opened(
    ident: Identity, user_id: str, *, view: dict[str, Any] | None
) -> dict[str, Any]:
    """An ``event_callback`` wrapping ``app_home_opened`` for the Home tab."""
    now = time.time()
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": dm_channel(user_id),
        "tab": "home",
        "event_ts": f"{now:.6f}",
    }
    if view is not None:
        event["view"] = view
    return {
        "token": ident.verification_token,
        "team_id": ident.team_id,
        "api_app_id": ident.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + secrets.token_hex(5).upper(),
        "event_time": int(now),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": ident.team_id,
                "user_id": ident.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_urlsafe(24),
    }
