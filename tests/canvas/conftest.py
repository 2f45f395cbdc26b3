"""Fixtures for canvas tests: the Slack sandbox, a real WebClient, a hand-turned clock,
and a runtime with only the canvas part."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.canvas.part import STOP_TIMEOUT_SECONDS, CanvasPart
from bot.canvas.publisher import CanvasPublisher
from bot.config import Config, load_config
from bot.lease import Lease
from bot.runtime import Runtime
from bot.sandbox.slack import SlackSandbox
from bot.service import StatusService
from bot.slack.client import build_leased_client
from bot.store import JsonStore
from tests.conftest import FakeClock, wait_until

CHANNEL_ID = "C0EPMPULSE"
WAIT = 5.0


@contextmanager
def running(
    config: Config, stop_timeout: float = STOP_TIMEOUT_SECONDS
) -> Iterator[tuple[Runtime, CanvasPart]]:
    """A started runtime with only the canvas part; stopped on exit."""
    runtime = Runtime(config)
    part = CanvasPart(runtime, stop_timeout=stop_timeout)
    runtime.add_leader_only("canvas", lambda: part)
    runtime.start()
    try:
        yield runtime, part
    finally:
        runtime.stop()


def wait_for_canvas(sandbox: SlackSandbox, canvas_id: str, text: str, timeout: float = WAIT) -> str:
    """Wait (bounded) until the canvas contains ``text``; its markdown."""
    wait_until(
        lambda: text in sandbox.canvas_markdown(canvas_id),
        f"{text!r} on canvas {canvas_id}",
        timeout=timeout,
        interval=0.02,
    )
    return sandbox.canvas_markdown(canvas_id)


@pytest.fixture
def sandbox() -> Iterator[SlackSandbox]:
    """A started Slack sandbox with its default (real) rate-limit tiers and the board's channel."""
    with SlackSandbox() as started:
        started.add_channel(CHANNEL_ID, "epmpulse")
        yield started


@pytest.fixture
def clock() -> FakeClock:
    """A clock for the publisher that tests advance by hand."""
    return FakeClock()


MakeSlackConfig = Callable[..., Config]


@pytest.fixture
def make_slack_config(tmp_path: Path, sandbox: SlackSandbox) -> MakeSlackConfig:
    """Build a Config pointing at the sandbox; keyword arguments override the environment."""

    def make(**env: str) -> Config:
        values = {
            "EPMPULSE_DATA_DIR": str(tmp_path / "data"),
            "SLACK_BOT_TOKEN": sandbox.bot_token,
            "SLACK_APP_TOKEN": sandbox.app_token,
            "SLACK_API_URL": sandbox.api_url,
            "EPMPULSE_CANVAS_DEBOUNCE_SECONDS": "0.2",
            **env,
        }
        return load_config({k: v for k, v in values.items() if v}, cwd=tmp_path)

    return make


@pytest.fixture
def canvas_id(sandbox: SlackSandbox) -> str:
    """An existing, empty standalone canvas."""
    return sandbox.create_canvas(title="EPM Status")


@pytest.fixture
def slack_config(make_slack_config: MakeSlackConfig, canvas_id: str) -> Config:
    """Settings for the sandbox and the existing canvas."""
    return make_slack_config(SLACK_CANVAS_ID=canvas_id)


@pytest.fixture
def client(slack_config: Config) -> WebClient:
    """The publisher's real WebClient (no in-place retries) against the sandbox."""
    return build_leased_client(slack_config.settings, Lease.held())


@pytest.fixture
def slack_service(slack_config: Config) -> Iterator[StatusService]:
    """The status service over a temp store, for the sandbox configuration."""
    store = JsonStore(slack_config.settings.data_dir)
    yield StatusService(slack_config.estate.layout, store)
    store.close()


MakePublisher = Callable[..., CanvasPublisher]


@pytest.fixture
def make_publisher(
    slack_config: Config, client: WebClient, canvas_id: str, clock: FakeClock
) -> MakePublisher:
    """A publisher for ``canvas_id`` on the fake clock; pass a service (and overrides)."""

    def make(
        service: StatusService, *, client: WebClient = client, **overrides: object
    ) -> CanvasPublisher:
        options: dict[str, object] = {
            "title": slack_config.estate.canvas.title,
            "timezone": slack_config.estate.canvas.timezone,
            "debounce_seconds": 2.0,
            "clock": clock,
            **overrides,
        }
        return CanvasPublisher(service, client, canvas_id, **options)  # type: ignore[arg-type]

    return make
