"""Fixtures for the close calendar: a close estate, a settable clock, the Slack sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from bot.close.part import ClosePart
from bot.config import Config
from bot.sandbox.slack import SlackSandbox
from bot.service import StatusService
from bot.slack.client import build_web_client
from bot.slack.posting import poster
from bot.store import JsonStore
from tests.conftest import FakeNow, MakeConfig

CHANNEL = "C0CLOSE"
CLOSE_YAML = """
close:
  timezone: Europe/London
  reset: {reset}
  deadlines:
    Planning/Actuals: "WD2 12:00"
    FCCS/Consolidation: "WD4 17:00"
  depends_on:
    FCCS/Actuals: [Planning/Actuals]
    FCCS/Consolidation: [FCCS/Actuals]
"""
# The close of 2026-11 runs in December 2026 (GMT): WD2 is Wed 2 Dec, WD4 Fri 4 Dec.
ACTUALS_DUE = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CONSOLIDATION_DUE = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
DECEMBER_START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


@dataclass
class Close:
    """One process's view of a data dir: service, close part, the sandbox it alerts to."""

    config: Config
    clock: FakeNow
    service: StatusService
    part: ClosePart
    scheduler: BackgroundScheduler
    sandbox: SlackSandbox
    stores: list[JsonStore] = field(default_factory=list)

    def alerts(self) -> list[str]:
        """Texts posted to the alert channel, oldest first."""
        return [m.text or "" for m in self.sandbox.messages(CHANNEL)]

    def restart(self) -> Close:
        """A new process over the same data dir (same clock and sandbox), started."""
        self.part.stop()
        return open_close(self.config, self.clock, self.sandbox, self.stores)


def open_close(
    config: Config, clock: FakeNow, sandbox: SlackSandbox, stores: list[JsonStore]
) -> Close:
    """Open store, service and part (not yet started) over ``config``'s data dir."""
    store = JsonStore(config.settings.data_dir)
    stores.append(store)
    service = StatusService(config.estate.layout, store, clock=clock)
    scheduler = BackgroundScheduler(timezone=UTC)
    close = config.estate.close
    part = ClosePart(
        service,
        scheduler,
        post=poster(
            build_web_client(config.settings, server_errors=0), config.settings.slack_channel_id
        ),
        reset=bool(close and close.reset),
        clock=clock,
    )
    return Close(config, clock, service, part, scheduler, sandbox, stores)


MakeClose = Callable[..., Close]


@pytest.fixture
def sandbox() -> Iterator[SlackSandbox]:
    """A fresh Slack sandbox on loopback."""
    with SlackSandbox() as running:
        running.add_channel(CHANNEL, "close")
        yield running


@pytest.fixture
def make_close(
    make_config: MakeConfig, sandbox: SlackSandbox, tmp_path: Path
) -> Iterator[MakeClose]:
    """Build a close process (``reset`` on or off) at a given time; closes its stores."""
    stores: list[JsonStore] = []

    def make(*, reset: bool = True, now: datetime | None = None, yaml_text: str = "") -> Close:
        config = make_config(
            yaml_text or CLOSE_YAML.format(reset=str(reset).lower()),
            SLACK_BOT_TOKEN=sandbox.bot_token,
            SLACK_API_URL=sandbox.api_url,
            SLACK_CHANNEL_ID=CHANNEL,
        )
        clock = FakeNow(now or DECEMBER_START + timedelta(hours=9))
        return open_close(config, clock, sandbox, stores)

    yield make
    for store in stores:
        store.close()
