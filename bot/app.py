"""Assembles the ``epmpulse run`` process from its parts."""

from __future__ import annotations

from bot.api import ApiPart
from bot.canvas import CanvasPart
from bot.config import Config
from bot.epm import EpmPart
from bot.errors import ConfigError
from bot.runtime import Runtime
from bot.slack.part import SlackPart
from bot.store import Store


def require_run_settings(config: Config) -> None:
    """Raise ConfigError listing every setting ``run`` needs but lacks."""
    settings = config.settings
    problems = []
    if settings.slack_bot_token is None:
        problems.append("SLACK_BOT_TOKEN is required (a bot token, xoxb-…)")
    if settings.slack_app_token is None:
        problems.append("SLACK_APP_TOKEN is required (an app-level token, xapp-…, for socket mode)")
    if not settings.slack_canvas_id and not settings.slack_channel_id:
        problems.append("SLACK_CANVAS_ID or SLACK_CHANNEL_ID is required (where the board lives)")
    if problems:
        raise ConfigError(problems)


def build_runtime(config: Config, *, store: Store | None = None) -> Runtime:
    """The runtime with every part of the process, in start order."""
    runtime = Runtime(config, store=store)
    slack = SlackPart(config, runtime.service, runtime.metrics)
    runtime.add(slack)  # first: fail fast on auth
    canvas = CanvasPart(runtime)
    slack.on_refresh = canvas.request_refresh
    runtime.add(canvas)
    runtime.add(ApiPart.from_runtime(runtime))  # after Slack and canvas: /health sees them
    runtime.add(EpmPart.from_runtime(runtime))  # last: polls once the others are up
    return runtime
