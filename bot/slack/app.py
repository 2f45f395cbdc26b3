"""The Bolt app: built from a WebClient and the shared dependencies, listeners registered."""

from __future__ import annotations

import logging
from concurrent.futures import Executor

from slack_bolt import App
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient

from bot.slack.deps import SlackDeps
from bot.slack.listeners import register_listeners


def build_app(client: WebClient, deps: SlackDeps, executor: Executor) -> App:
    """A socket-mode Bolt app using ``client`` (so SLACK_API_URL and retries apply).

    The token is checked by :class:`~bot.slack.part.SlackPart` at start, so building
    the app makes no network call. Listeners run on ``executor``.
    """
    bolt_logger = logging.getLogger("bot.slack.bolt")
    # Bolt reads SLACK_BOT_TOKEN from the environment by itself and, finding both that
    # and ``client``, warns that the token is unused; it is the client's own token, so
    # the warning (on every start) says nothing. Only that one record, only while building.
    quiet = _DropMessage(warning_client_prioritized_and_token_skipped())
    bolt_logger.addFilter(quiet)
    try:
        app = App(
            client=client,
            token_verification_enabled=False,
            request_verification_enabled=False,  # socket mode: nothing arrives over HTTP
            listener_executor=executor,
            logger=bolt_logger,
        )
    finally:
        bolt_logger.removeFilter(quiet)
    register_listeners(app, deps)
    return app


class _DropMessage(logging.Filter):
    """Drops log records whose message is exactly ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def filter(self, record: logging.LogRecord) -> bool:
        """False (drop) for the one message, True for everything else."""
        return record.getMessage() != self.message
