"""``epmpulse check``: validate the configuration and reach Slack, the canvas and EPM."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.canvas.lifecycle import CANVAS_META, check_canvas
from bot.config import Config
from bot.epm.check import check_servers
from bot.errors import ConfigError, EpmPulseError
from bot.runtime import Check
from bot.service import StatusService
from bot.slack.client import build_web_client
from bot.store.factory import open_store


def run_checks(config: Config) -> dict[str, Check]:
    """Every check by name, in order: config, Slack, canvas, then each EPM server."""
    estate = config.estate
    checks = {
        "config": Check(
            True,
            f"{len(estate.apps)} app(s), {len(estate.domain_keys())} domain(s), "
            f"{len(estate.epm.servers)} EPM server(s)",
        ),
    }
    client = build_web_client(config.settings, rate_limited=1, server_errors=1)
    checks["slack"] = check_slack(config, client)
    if checks["slack"].ok:
        checks["canvas"] = check_board_canvas(config, client)
    else:
        checks["canvas"] = Check(False, "not checked: Slack is not reachable")
    checks.update({f"epm {name}": c for name, c in check_servers(config).items()})
    return checks


def check_slack(config: Config, client: WebClient) -> Check:
    """The bot token works (``auth.test``) at ``SLACK_API_URL``."""
    settings = config.settings
    if settings.slack_bot_token is None:
        return Check(False, "SLACK_BOT_TOKEN is not set")
    if settings.slack_app_token is None:
        return Check(False, "SLACK_APP_TOKEN is not set (needed for socket mode)")
    try:
        identity = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else "unknown error"
        return Check(False, f"{settings.slack_api_url}: Slack refused the token ({error})")
    except (SlackClientError, OSError) as exc:
        return Check(False, f"cannot reach {settings.slack_api_url}: {exc}")
    return Check(
        True,
        f"{settings.slack_api_url}: team {identity.get('team')}, bot {identity.get('user')}",
    )


def check_board_canvas(config: Config, client: WebClient) -> Check:
    """The configured canvas exists, or the channel canvas is known or can be created."""
    settings = config.settings
    canvas_id = settings.slack_canvas_id
    if not canvas_id and settings.slack_channel_id:
        stored = _stored_canvas(config)
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


def _stored_canvas(config: Config) -> str | None:
    store = open_store(config.settings)
    try:
        stored = StatusService(config.estate, store).meta(CANVAS_META) or {}
    finally:
        store.close()
    if stored.get("channel_id") == config.settings.slack_channel_id and stored.get("id"):
        return str(stored["id"])
    return None
