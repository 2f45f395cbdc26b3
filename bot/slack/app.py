"""The Bolt app: built from a WebClient and the shared dependencies, listeners registered."""

from __future__ import annotations

import logging
from concurrent.futures import Executor

from slack_bolt import App
from slack_sdk import WebClient

from bot.slack.deps import SlackDeps
from bot.slack.listeners import register_listeners


def build_app(client: WebClient, deps: SlackDeps, executor: Executor) -> App:
    """A socket-mode Bolt app using ``client`` (so SLACK_API_URL and retries apply).

    The token is checked by :class:`~bot.slack.part.SlackPart` at start, so building
    the app makes no network call. Listeners run on ``executor``.
    """
    app = App(
        client=client,
        token_verification_enabled=False,
        request_verification_enabled=False,  # socket mode: nothing arrives over HTTP
        listener_executor=executor,
        logger=logging.getLogger("bot.slack.bolt"),
    )
    register_listeners(app, deps)
    return app
