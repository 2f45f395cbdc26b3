"""App Home's *Run* buttons: start the row's EPM job, tell the user, refresh the Home tab."""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.errors import NotAllowedError, ValidationError
from bot.slack.blocks import Message, text_messages
from bot.slack.deps import SlackDeps
from bot.slack.jobs import RUN_JOB_ACTION, parse_run_value, run_job
from bot.slack.listeners.clicks import Click, on_click
from bot.slack.mrkdwn import escape

logger = logging.getLogger(__name__)


def register(app: App, deps: SlackDeps) -> None:
    """Register the *Run* button listener."""

    # Slack showed the confirmation dialog already; acked at once, the start may take a while.
    @on_click(app, RUN_JOB_ACTION)
    def run_from_home(click: Click) -> None:
        user_id = click.user_id
        # The Home tab has no response_url: the outcome goes to the user's DM with the app.
        for message in _run(deps, user_id, click.value):
            click.client.chat_postMessage(channel=user_id, text=message.text, blocks=message.blocks)
        deps.publish_home(click.client, user_id)


def _run(deps: SlackDeps, user_id: str, value: str) -> list[Message]:
    try:
        deps.editors.require(user_id)
        app, domain = parse_run_value(value)
        messages = run_job(deps.launcher, app, domain, by=f"slack:{user_id}")
    except ValidationError as exc:
        return text_messages(f":warning: {escape(str(exc))}")
    except NotAllowedError as exc:
        return text_messages(f":no_entry: {escape(str(exc))}")
    logger.info("Run button by %s for %s", user_id, value)
    return messages
