"""Assembles the ``epmpulse run`` process from its parts."""

from __future__ import annotations

from bot.api import ApiPart
from bot.canvas import CanvasPart
from bot.canvas.part import request_remote_refresh
from bot.config import Config
from bot.epm import EpmPart
from bot.epm.launch import JobLauncher
from bot.epm.part import build_clients, close_clients
from bot.runtime import Runtime
from bot.slack.client import build_leased_client
from bot.slack.delivery import AlertsPart
from bot.slack.part import SlackPart
from bot.slack.posting import poster
from bot.store import Store


def build_runtime(config: Config, *, store: Store | None = None) -> Runtime:
    """The runtime with every part of the process, in start order.

    Scheduled work is added with ``runtime.add_leader_only``: only the leader runs it.
    """
    runtime = Runtime(config, store=store)
    # Every instance may start EPM jobs; the leader's poller shares these clients (one
    # session and one OAuth token per server), so they live as long as the process.
    clients = build_clients(config, runtime.metrics, runtime.service.store)
    runtime.add_closer(lambda: close_clients(clients))
    launcher = JobLauncher(runtime.service, clients, estate=config.estate)
    slack = SlackPart(config, runtime.service, runtime.metrics, launcher=launcher)
    runtime.add(slack)  # first: fail fast on auth
    canvas = CanvasRelay(runtime)
    slack.on_refresh = canvas.request_refresh
    runtime.add_leader_only("canvas", canvas.build)
    # After Slack and canvas: /health sees them.
    runtime.add(ApiPart.from_runtime(runtime, launcher=launcher))
    # The leader's posts go through clients that check the lease before every call.
    alerts_client = build_leased_client(config.settings, runtime.lease)
    runtime.add_leader_only("alerts", lambda: AlertsPart.from_runtime(runtime, alerts_client))
    if runtime.service.sign_off is not None:
        from bot.slack.signoff_outbox import SignOffPart  # only estates with sign-off (SPEC §18)

        runtime.add_leader_only("signoff", lambda: SignOffPart.from_runtime(runtime, alerts_client))
    runtime.add_leader_only("epm", lambda: EpmPart.from_runtime(runtime, clients))  # polls last
    if config.estate.close is not None:
        from bot.close.part import ClosePart  # only estates with a close calendar

        # Deadlines, overdue alerts and roll-over.
        channel = config.settings.slack_channel_id  # overdue and conductor posts go there
        close_client = build_leased_client(config.settings, runtime.lease)
        runtime.add_leader_only(
            "close", lambda: ClosePart.from_runtime(runtime, poster(close_client, channel))
        )
        from bot.close.conducting import Conductor

        # The close conductor (SPEC §17): automatic starts, and the cross-check of every OK.
        conductor_client = build_leased_client(config.settings, runtime.lease)
        runtime.add_leader_only(
            "conductor",
            lambda: Conductor.from_runtime(runtime, launcher, poster(conductor_client, channel)),
        )
    return runtime


class CanvasRelay:
    """Builds the leader's canvas part and passes ``/epmpulse refresh`` on to it.

    On an instance that does not lead, a refresh is recorded in the store and the
    leader's canvas part picks it up at its next tick.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.part: CanvasPart | None = None

    def build(self) -> CanvasPart:
        """A fresh canvas part (each time this instance becomes the leader)."""
        self.part = CanvasPart(self._runtime)
        return self.part

    def request_refresh(self) -> None:
        """Republish the whole canvas at the leader's next tick."""
        part = self.part
        if part is not None and self._runtime.leading:
            part.request_refresh()
        else:
            request_remote_refresh(self._runtime.service)


def start_runtime(config: Config) -> Runtime:
    """The runtime built and started; its store is closed when a part fails to start."""
    runtime = build_runtime(config)
    try:
        runtime.start()
    except BaseException:
        runtime.store.close()
        raise
    return runtime
