"""Assembles the ``epmpulse run`` process from its parts."""

from __future__ import annotations

from bot.api import ApiPart
from bot.canvas import CanvasPart
from bot.config import Config
from bot.epm import EpmPart
from bot.runtime import Runtime
from bot.slack.part import SlackPart
from bot.store import Store


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
    if config.estate.close is not None:
        from bot.close.part import ClosePart  # only estates with a close calendar

        runtime.add(ClosePart.from_runtime(runtime, slack.client))  # deadlines, roll-over
    return runtime
