"""``epmpulse check``: validate the configuration and reach Slack, the canvas and EPM.

``check`` fails on whatever ``run`` would fail on: the bot token (``auth.test``), the
app-level token and its ``connections:write`` scope (``apps.connections.open``, as
socket mode does), the channel (``conversations.info``) and the canvas. A setting that
is missing is named; a Slack that cannot be reached is reported as such, not as a
configuration mistake, and what depends on it says why it was not checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.canvas.lifecycle import CANVAS_META, check_canvas
from bot.config import Config
from bot.epm.check import check_servers
from bot.errors import ConfigError, EpmPulseError, StoreError
from bot.parts import Check
from bot.proxy import Proxies
from bot.settings import CHANNEL_ID, FIND_CHANNEL_ID, Settings
from bot.slack.client import WEB_API_ERRORS, build_web_client
from bot.store.json_store import STATE_FILE
from bot.store.state_file import parse

UNREACHABLE = "Slack could not be reached"


@dataclass(frozen=True)
class _SlackReach:
    """The bot-token check, and why later Slack checks cannot run (None: they can)."""

    check: Check
    blocked: str | None


def run_checks(config: Config) -> dict[str, Check]:
    """Every check by name, in order: config, store, Slack, socket mode, channel, canvas,
    EPM, and the proxy in use."""
    checks = {"config": Check(True, describe_estate(config))}
    checks["store"], stored_canvas = _check_store(config)
    client = build_web_client(config.settings, rate_limited=1, server_errors=1)
    reach = _reach_slack(config.settings, client)
    checks["slack"] = reach.check
    checks["socket mode"] = check_socket_mode(config.settings, client, reach)
    checks["channel"] = check_channel(config.settings, client, reach)
    checks["canvas"] = _canvas_after(config, client, reach, checks["channel"], stored_canvas)
    checks.update({f"epm {name}": c for name, c in check_servers(config).items()})
    checks["proxy"] = Check(True, Proxies.from_settings(config.settings).describe())
    return checks


def describe_estate(config: Config) -> str:
    """The apps with their domains, and the EPM servers, by name: a misspelling shows."""
    estate = config.estate
    apps = "; ".join(f"{name} ({', '.join(app.domains)})" for name, app in estate.apps.items())
    servers = ", ".join(estate.epm.servers) or "none"
    return (
        f"{len(estate.apps)} app(s), {len(estate.domain_keys())} domain(s): {apps}; "
        f"EPM server(s): {servers}"
    )


def _reach_slack(settings: Settings, client: WebClient) -> _SlackReach:
    if settings.slack_bot_token is None:
        missing = "SLACK_BOT_TOKEN is not set"
        return _SlackReach(Check(False, f"{missing} (a bot token, xoxb-…)"), missing)
    try:
        identity = client.auth_test()
    except SlackApiError as exc:
        error = _error(exc)
        detail = f"{settings.slack_api_url}: Slack refused the token ({error})"
        return _SlackReach(Check(False, detail), "Slack refused SLACK_BOT_TOKEN")
    except WEB_API_ERRORS as exc:
        detail = f"{UNREACHABLE} at {settings.slack_api_url}: {exc}"
        return _SlackReach(Check(False, detail), UNREACHABLE)
    detail = f"{settings.slack_api_url}: team {identity.get('team')}, bot {identity.get('user')}"
    return _SlackReach(Check(True, detail), None)


def check_socket_mode(settings: Settings, client: WebClient, reach: _SlackReach) -> Check:
    """The app-level token opens socket mode (``apps.connections.open``, connections:write)."""
    app_token = settings.slack_app_token
    if app_token is None:
        return Check(False, "SLACK_APP_TOKEN is not set (an app-level token, xapp-…)")
    if reach.blocked == UNREACHABLE:
        return Check(False, f"not checked: {UNREACHABLE}")
    try:
        # The URL Slack hands out is single-use and expires unused; nothing connects.
        client.apps_connections_open(app_token=app_token.get_secret_value())
    except SlackApiError as exc:
        error = _error(exc)
        if error == "missing_scope":
            return Check(
                False,
                "SLACK_APP_TOKEN lacks the connections:write scope: create an app-level "
                "token with it (app settings → Basic Information → App-Level Tokens)",
            )
        return Check(False, f"Slack refused SLACK_APP_TOKEN (apps.connections.open: {error})")
    except WEB_API_ERRORS as exc:
        return Check(False, f"{UNREACHABLE} at {settings.slack_api_url}: {exc}")
    return Check(True, "SLACK_APP_TOKEN opens socket mode connections")


def check_channel(settings: Settings, client: WebClient, reach: _SlackReach) -> Check:
    """``SLACK_CHANNEL_ID`` is a channel id the bot can see (``conversations.info``)."""
    channel_id = settings.slack_channel_id
    if not channel_id:
        return Check(True, "SLACK_CHANNEL_ID is not set: no alerts are posted")
    if not CHANNEL_ID.match(channel_id):
        return Check(
            False,
            f"SLACK_CHANNEL_ID '{channel_id}' is not a channel id; Slack needs the id, "
            f"not the name: {FIND_CHANNEL_ID}",
        )
    if reach.blocked is not None:
        return Check(False, f"not checked: {reach.blocked}")
    try:
        response = client.conversations_info(channel=channel_id)
    except SlackApiError as exc:
        error = _error(exc)
        if error == "channel_not_found":
            return Check(
                False,
                f"SLACK_CHANNEL_ID {channel_id}: no such channel, or a private channel the "
                "bot is not in (invite it there with /invite @EPMPulse)",
            )
        return Check(False, f"SLACK_CHANNEL_ID {channel_id}: Slack answered {error}")
    except WEB_API_ERRORS as exc:
        return Check(False, f"{UNREACHABLE} at {settings.slack_api_url}: {exc}")
    channel = response.get("channel") or {}
    detail = f"#{channel.get('name')} ({channel_id})"
    if channel.get("is_member") is False:
        detail += ": the bot is not a member; alerts rely on the chat:write.public scope"
    return Check(True, detail)


def _check_store(config: Config) -> tuple[Check, str | None]:
    """Whether the store (data directory or database) can be read; the channel canvas it
    knows. A data directory is only read: ``check`` creates nothing."""
    url = config.settings.database_url
    if url is None:
        return _check_data_dir(config.settings.data_dir, config.settings.slack_channel_id)
    from bot.store.pooler import check_stable_session
    from bot.store.postgres import peek

    try:
        found = peek(url.get_secret_value(), CANVAS_META)
    except StoreError as exc:
        return Check(False, f"cannot open the store: {exc}"), None
    try:  # what `run` checks first: leader election needs a real session
        check_stable_session(url.get_secret_value())
    except (ConfigError, StoreError) as exc:
        return Check(False, str(exc)), None
    if found is None:
        return Check(
            True, "the database: no EPMPulse tables yet: the first `run` creates them"
        ), None
    version, stored = found
    check = Check(True, f"the database: board version {version}")
    return check, _known_canvas(stored or {}, config.settings.slack_channel_id)


def _check_data_dir(data_dir: Path, channel_id: str | None) -> tuple[Check, str | None]:
    """Read ``state.json`` without opening the store (which would create the directory)."""
    state_path = data_dir / STATE_FILE
    if not data_dir.exists():
        parent = next((p for p in data_dir.absolute().parents if p.exists()), None)
        if parent is None or not os.access(parent, os.W_OK | os.X_OK):
            return Check(False, f"{data_dir} does not exist and {parent} is not writable"), None
        return Check(True, f"{data_dir} does not exist yet: the first `run` creates it"), None
    if not data_dir.is_dir():
        return Check(False, f"{data_dir} is not a directory"), None
    if not os.access(data_dir, os.R_OK | os.W_OK | os.X_OK):
        return Check(False, f"{data_dir}: no permission to read and write it"), None
    try:
        state, _ = parse(state_path.read_bytes(), validate=True)
    except FileNotFoundError:
        return Check(True, f"{data_dir}: no board yet: the first `run` starts it"), None
    except ValueError as exc:  # `run` repairs it (SPEC §8): worth saying, not a failure
        detail = f"{state_path} is damaged ({exc}): `run` restores the newest valid backup"
        return Check(True, detail), None
    except OSError as exc:
        return Check(False, f"cannot read {state_path}: {exc.strerror}"), None
    stored = state.meta.get(CANVAS_META) or {}
    check = Check(True, f"{data_dir}: board version {state.version}")
    return check, _known_canvas(stored, channel_id)


def _known_canvas(stored: dict[str, object], channel_id: str | None) -> str | None:
    """The channel canvas the store recorded for this channel, if any."""
    if stored.get("channel_id") == channel_id and stored.get("id"):
        return str(stored["id"])
    return None


def _canvas_after(
    config: Config, client: WebClient, reach: _SlackReach, channel: Check, stored: str | None
) -> Check:
    settings = config.settings
    if not settings.slack_canvas_id and not settings.slack_channel_id:
        return Check(False, "SLACK_CANVAS_ID or SLACK_CHANNEL_ID is required (where the board is)")
    if reach.blocked is not None:
        return Check(False, f"not checked: {reach.blocked}")
    if not settings.slack_canvas_id and not channel.ok:
        return Check(False, "not checked: its channel SLACK_CHANNEL_ID is not usable")
    return check_board_canvas(config, client, stored)


def check_board_canvas(config: Config, client: WebClient, stored: str | None = None) -> Check:
    """The configured canvas exists, or the channel canvas (``stored``) is known or can be made."""
    settings = config.settings
    canvas_id = settings.slack_canvas_id
    if not canvas_id and settings.slack_channel_id:
        if stored is None:
            return Check(
                True,
                f"channel {settings.slack_channel_id}: its canvas is created by the first run",
            )
        canvas_id = stored
    if not canvas_id:
        return Check(False, "SLACK_CANVAS_ID or SLACK_CHANNEL_ID is required")
    try:
        check_canvas(client, canvas_id)
    except ConfigError as exc:
        return Check(False, "; ".join(exc.problems))
    except EpmPulseError as exc:
        return Check(False, str(exc))
    return Check(True, f"{canvas_id} exists")


def _error(exc: SlackApiError) -> str:
    response = exc.response
    error = response.get("error") if response is not None else None
    return str(error or f"HTTP {getattr(response, 'status_code', '?')}")
