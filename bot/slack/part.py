"""The Slack part of ``epmpulse run``: auth check, socket mode and listeners."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import Config
from bot.errors import ConfigError, SlackError
from bot.metrics import Metrics
from bot.parts import Check
from bot.service import StatusService
from bot.slack.app import build_app
from bot.slack.client import build_web_client, slack_proxy
from bot.slack.commandline import CommandLine, SubCommand
from bot.slack.deps import SlackDeps
from bot.slack.editors import Editors
from bot.slack.report import report_subcommand
from bot.slack.subcommands import SUBCOMMANDS
from bot.slack.subscriptions import Subscriptions

if TYPE_CHECKING:
    from bot.epm.launch import JobLauncher

logger = logging.getLogger(__name__)

LISTENER_WORKERS = 8
SOCKET_WORKERS = 10
# Also how often a dropped connection is noticed and replaced.
PING_INTERVAL_SECONDS = 10.0


class SlackPart:
    """Socket-mode Slack: ``/epmpulse``, the update modal and App Home.

    ``on_refresh`` is called by ``/epmpulse refresh`` (the canvas part's hook; it may
    also be assigned later, before start). ``extra_subcommands`` are added to the
    built-in ones. ``client`` replaces the WebClient built from the settings,
    ``clock`` (monotonic seconds) drives the usergroup cache, and ``ping_interval``
    is how often the socket is checked (a dropped one is replaced at the next check).
    ``launcher`` starts EPM jobs for ``/epmpulse run`` and App Home's *Run* buttons.
    """

    name = "slack"

    def __init__(
        self,
        config: Config,
        service: StatusService,
        metrics: Metrics | None = None,
        *,
        on_refresh: Callable[[], object] | None = None,
        extra_subcommands: Sequence[SubCommand] = (),
        client: WebClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        ping_interval: float = PING_INTERVAL_SECONDS,
        launcher: JobLauncher | None = None,
    ) -> None:
        settings = config.settings
        self.config = config
        self.client = client if client is not None else build_web_client(settings)
        subscriptions = Subscriptions(service)
        self.deps = SlackDeps(
            service=service,
            editors=Editors(settings.editors, self.client, metrics=metrics, clock=clock),
            subscriptions=subscriptions,
            commands=CommandLine(
                [*SUBCOMMANDS, report_subcommand(self.client), *extra_subcommands]
            ),
            metrics=metrics,
            on_refresh=on_refresh,
            launcher=launcher,
            approvers=None
            if service.sign_off is None
            else Editors(service.sign_off.approvers, self.client, metrics=metrics, clock=clock),
        )
        self._executor = ThreadPoolExecutor(LISTENER_WORKERS, thread_name_prefix="slack-listener")
        # Bolt insists on a token when the app is built, so that happens in start().
        self.app: App | None = None
        self._ping_interval = ping_interval
        self._handler: SocketModeHandler | None = None

    @property
    def on_refresh(self) -> Callable[[], object] | None:
        """What ``/epmpulse refresh`` calls (None: the reply says there is no canvas)."""
        return self.deps.on_refresh

    @on_refresh.setter
    def on_refresh(self, hook: Callable[[], object] | None) -> None:
        self.deps.on_refresh = hook

    def start(self) -> None:
        """Check the bot token with auth.test, then connect socket mode (not blocking)."""
        settings = self.config.settings
        bot_token, app_token = settings.slack_bot_token, settings.slack_app_token
        if bot_token is None or app_token is None:
            names = (("SLACK_BOT_TOKEN", bot_token), ("SLACK_APP_TOKEN", app_token))
            raise ConfigError([f"{name} is required" for name, token in names if token is None])
        identity = self._call_slack("SLACK_BOT_TOKEN", "auth.test", self.client.auth_test)
        logger.info(
            "Slack accepts the bot token: %s in team %s", identity.get("user"), identity.get("team")
        )
        if self.app is None:
            self.app = build_app(self.client, self.deps, self._executor)
        handler = SocketModeHandler(
            self.app,
            app_token=app_token.get_secret_value(),
            web_client=self.client,
            logger=logging.getLogger("bot.slack.socket_mode"),
            concurrency=SOCKET_WORKERS,
            ping_interval=self._ping_interval,
        )
        # Set, not passed: slack_sdk would read HTTPS_PROXY itself, ignoring NO_PROXY.
        handler.client.proxy = slack_proxy(settings)
        try:
            self._call_slack("SLACK_APP_TOKEN", "apps.connections.open", handler.connect)
        except BaseException:
            handler.close()
            raise
        self._handler = handler
        logger.info("socket mode connected")

    def stop(self) -> None:
        """Close the socket, finish running listeners and queued alerts (bounded)."""
        handler, self._handler = self._handler, None
        if handler is not None:
            _end_receiving(handler)
            handler.close()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def health(self) -> Check:
        """OK while the socket-mode connection is up."""
        handler = self._handler
        if handler is None:
            return Check(False, "socket mode not started")
        if handler.client.is_connected():
            return Check(True, f"socket mode connected (session {handler.client.session_id()})")
        return Check(False, "socket mode disconnected; reconnecting")

    def _call_slack(
        self, setting: str, method: str, call: Callable[[], object]
    ) -> dict[str, object]:
        try:
            result = call()
        except SlackApiError as exc:
            error = exc.response.get("error")
            raise ConfigError([f"{setting}: Slack refused it ({method}: {error})"]) from exc
        except (SlackClientError, OSError) as exc:
            # An outage is not a configuration mistake: exit 1, and say what happened.
            url = self.config.settings.slack_api_url
            raise SlackError(f"could not reach Slack at {url} ({method}: {exc})") from exc
        return dict(getattr(result, "data", None) or {})


def _end_receiving(handler: SocketModeHandler) -> None:
    """Wake the socket's receive thread so that closing does not wait out its timeout.

    slack_sdk's close takes the receive lock, which the receive thread holds while it
    blocks in recv() for up to its socket timeout (3-5 s). Shutting the socket down
    first ends that recv at once; the close that follows then releases everything.
    """
    client = handler.client
    # close()'s own first steps, taken before the socket goes: its monitor stops checking
    # the socket instead of logging the shut-down one as an error.
    client.closed = True
    client.auto_reconnect_enabled = False
    client.current_session_state.terminated = True
    sock = getattr(client.current_session, "sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed by the other side
        logger.debug("socket mode connection was already shut down")
