"""Fixtures for the Slack tests: the strict sandbox and the real Bolt app connected to it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient

from bot.config import Config
from bot.epm.client import EpmClient
from bot.epm.launch import JobLauncher
from bot.epm.part import build_clients
from bot.lease import Lease
from bot.metrics import Metrics
from bot.model import utcnow
from bot.sandbox.slack import DEFAULT_USER_ID, ResponsePost, SlackSandbox
from bot.service import StatusService
from bot.slack.client import build_leased_client
from bot.slack.commandline import SubCommand
from bot.slack.delivery import AlertsPart, Delivery
from bot.slack.part import SlackPart
from bot.store import JsonStore
from tests.conftest import MakeConfig

ALERT_CHANNEL = "C0ALERTS"
OPS_CHANNEL = "C0OPS"
ALICE = DEFAULT_USER_ID
BOB = "U0BOB"


@pytest.fixture
def sandbox() -> Iterator[SlackSandbox]:
    """A fresh Slack sandbox on loopback, with the alert channel and #ops created."""
    with SlackSandbox() as running:
        running.add_channel(ALERT_CHANNEL, "epm-alerts")
        running.add_channel(OPS_CHANNEL, "ops")
        yield running


def slack_env(sandbox: SlackSandbox, **extra: str) -> dict[str, str]:
    """Environment values pointing EPMPulse at ``sandbox``."""
    return {
        "SLACK_BOT_TOKEN": sandbox.bot_token,
        "SLACK_APP_TOKEN": sandbox.app_token,
        "SLACK_API_URL": sandbox.api_url,
        **extra,
    }


@dataclass
class Running:
    """A started Slack part talking to the sandbox, with its service and metrics."""

    sandbox: SlackSandbox
    config: Config
    service: StatusService
    metrics: Metrics
    part: SlackPart
    refreshes: list[int] = field(default_factory=list)
    alerts: AlertsPart | None = None

    def command(self, text: str, *, user: str = ALICE, count: int = 1) -> list[dict[str, Any]]:
        """Run ``/epmpulse text`` and return the ``count`` replies it posted to response_url."""
        before = len(self.sandbox.responses())
        self.sandbox.send_command(text, user_id=user)
        self.sandbox.wait_for_response(count=before + count)
        posts = self.sandbox.responses()[before:]
        assert [p.status for p in posts] == [200] * len(posts), [p.body for p in posts]
        return [p.body for p in posts]

    def reply(self, text: str, *, user: str = ALICE) -> str:
        """The mrkdwn text of the single reply to ``/epmpulse text``."""
        (body,) = self.command(text, user=user)
        return body_text(body)

    def last_response(self) -> ResponsePost:
        """The latest response_url post."""
        return self.sandbox.responses()[-1]


def body_text(body: dict[str, Any]) -> str:
    """Every text in a message or view body, joined by newlines."""
    return "\n".join(block_texts(body.get("blocks") or []))


def block_texts(blocks: list[dict[str, Any]]) -> list[str]:
    """The texts of section, header and context blocks."""
    texts = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            texts.append(block["text"]["text"])
        for element in block.get("elements") or []:
            if isinstance(element, dict) and "text" in element and block["type"] == "context":
                texts.append(element["text"])
    return texts


MakeRunning = Callable[..., Running]


@pytest.fixture(scope="session")
def stopper() -> Iterator[list[threading.Thread]]:
    """Threads stopping parts in the background, joined (bounded) at the end of the session.

    The builtin socket-mode client needs one to three seconds to close; stopping in the
    background keeps that off every test's teardown.
    """
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(timeout=10)


def _stop(part: SlackPart, store: JsonStore, alerts: AlertsPart, scheduler: Any) -> None:
    alerts.stop()
    scheduler.shutdown(wait=True)
    part.stop()
    store.close()


@pytest.fixture
def make_running(
    sandbox: SlackSandbox, make_config: MakeConfig, stopper: list[threading.Thread]
) -> Iterator[MakeRunning]:
    """Start the Slack part against the sandbox with extra environment values / YAML."""
    started: list[tuple[SlackPart, JsonStore, AlertsPart, BackgroundScheduler]] = []
    opened_clients: list[EpmClient] = []

    def make(
        yaml_text: str | None = None,
        *,
        refresh: bool = False,
        extra_subcommands: tuple[SubCommand, ...] = (),
        clock: Callable[[], float] | None = None,
        ping_interval: float | None = None,
        service_clock: Callable[[], datetime] | None = None,
        launcher: bool = False,
        store_type: type[JsonStore] = JsonStore,
        **env: str,
    ) -> Running:
        config = make_config(yaml_text, **slack_env(sandbox, **env))
        store = store_type(config.settings.data_dir)
        metrics = Metrics()
        service = StatusService(
            config.estate.layout, store, metrics=metrics, clock=service_clock or utcnow
        )
        refreshes: list[int] = []
        kwargs: dict[str, Any] = {"extra_subcommands": extra_subcommands}
        if clock is not None:
            kwargs["clock"] = clock
        if ping_interval is not None:
            kwargs["ping_interval"] = ping_interval
        if refresh:
            kwargs["on_refresh"] = lambda: refreshes.append(1)
        if launcher:  # real EPM clients of the configured servers start jobs
            clients = build_clients(config)
            opened_clients.extend(clients.values())
            kwargs["launcher"] = JobLauncher(service, clients, estate=config.estate)
        part = SlackPart(config, service, metrics, **kwargs)
        part.start()
        # Alert delivery as the leader runs it, ticking fast for the tests.
        scheduler = BackgroundScheduler()
        delivery = Delivery(
            service, alerts_client(config), config.settings.slack_channel_id, first_backoff=0.2
        )
        alerts = AlertsPart(delivery, scheduler, tick=0.05)
        scheduler.start()
        alerts.start()
        started.append((part, store, alerts, scheduler))
        sandbox.wait_connected(5)
        return Running(sandbox, config, service, metrics, part, refreshes, alerts)

    yield make
    for epm_client in opened_clients:
        epm_client.close()
    for part, store, alerts, scheduler in reversed(started):
        thread = threading.Thread(
            target=_stop, args=(part, store, alerts, scheduler), name="stop-slack-part"
        )
        thread.start()
        stopper.append(thread)


@pytest.fixture
def running(make_running: MakeRunning) -> Running:
    """The Slack part with the default estate, everyone an editor, alerts to C0ALERTS."""
    return make_running(SLACK_CHANNEL_ID=ALERT_CHANNEL)


def alerts_client(config: Config) -> WebClient:
    """A client for alert delivery outside a runtime: no lease, and no in-place retries."""
    return build_leased_client(config.settings, Lease.held())
