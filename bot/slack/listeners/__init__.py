"""Bolt listeners, one module per kind of Slack request, each with ``register(app, deps)``.

What they share: ``clicks`` (how a button listener is registered) and ``errors`` (the
error boundary).
"""

from __future__ import annotations

from slack_bolt import App

from bot.slack.deps import SlackDeps
from bot.slack.listeners import (
    actions,
    commands,
    errors,
    events,
    holds,
    jobs,
    report,
    shortcuts,
    signoff,
    views,
)


def register_listeners(app: App, deps: SlackDeps) -> None:
    """Register every listener and the error boundary on ``app``."""
    modules = (commands, shortcuts, views, actions, jobs, holds, events, report, signoff, errors)
    for module in modules:
        module.register(app, deps)
