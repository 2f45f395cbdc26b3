"""A close conductor on a virtual clock against the Slack and EPM sandboxes (test helper)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient

from bot.close.conducting import Conductor
from bot.config import Config
from bot.epm.client import EpmClient
from bot.epm.launch import JobLauncher, JobStarter
from bot.epm.poller import Poller
from bot.lease import Lease, claim_epoch
from bot.sandbox.epm import EpmSandbox
from bot.sandbox.slack import SlackSandbox
from bot.service import StatusService
from bot.slack.client import build_web_client
from bot.slack.posting import poster
from bot.store import JsonStore
from tests.close.conftest import CHANNEL
from tests.conftest import FakeNow

# The close of 2026-11 runs in December 2026; 09:00 on Tuesday 1 December.
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PERSON = "slack:U0CLOSER"

# Planning/Actuals (by hand) -> FCCS/Actuals -> FCCS/Consolidation -> FCCS/Reporting,
# each of the three FCCS jobs starting by itself.
JOBS = {
    "FCCS/Actuals": "Load Actuals",
    "FCCS/Consolidation": "Consolidate",
    "FCCS/Reporting": "Run Reports",
}


def estate_yaml(epm: EpmSandbox, *, delay: int | None = 2, auto: bool = True) -> str:
    """The chained estate on one planning server of ``epm``."""
    close: dict[str, Any] = {
        "timezone": "UTC",
        "depends_on": {
            "FCCS/Actuals": ["Planning/Actuals"],
            "FCCS/Consolidation": ["FCCS/Actuals"],
            "FCCS/Reporting": ["FCCS/Consolidation"],
        },
    }
    if delay is not None:
        close["start_delay_minutes"] = delay
    server = {
        "kind": "planning",
        "base_url": epm.base_url,
        "application": "Vision",
        "timeout_seconds": 5,
        "auth": {"type": "basic", "username": epm.username, "password": epm.password},
    }
    fccs_jobs = {
        name.split("/")[1]: {"type": "RULES", "name": job, "auto_start": auto}
        for name, job in JOBS.items()
    }
    document = {
        "apps": {
            "Planning": {
                "domains": ["Actuals", "Forecast"],
                "server": "planning",
                "jobs": {"Actuals": {"type": "RULES", "name": "Aggregate Actuals"}},
            },
            "FCCS": {
                "domains": ["Actuals", "Consolidation", "Reporting"],
                "server": "planning",
                "jobs": fccs_jobs,
            },
        },
        "epm": {"servers": {"planning": server}},
        "close": close,
    }
    return yaml.safe_dump(document, sort_keys=False)


class ClockedStore(JsonStore):
    """A JSON store whose own clock (job start reservations) is the test's."""

    def __init__(self, data_dir: Any, clock: FakeNow) -> None:
        super().__init__(data_dir)
        self.clock = clock

    def now(self) -> datetime:
        """The injected time."""
        return self.clock()


@dataclass
class Conducted:
    """One process over a data dir: service, launcher, poller and the conductor."""

    config: Config
    clock: FakeNow
    slack: SlackSandbox
    epm: EpmSandbox
    store: ClockedStore
    service: StatusService
    clients: dict[str, EpmClient]
    launcher: JobLauncher
    poller: Poller
    conductor: Conductor
    lease: Lease

    def ok(self, app: str, domain: str, by: str = PERSON) -> None:
        """A person sets the domain OK."""
        self.service.set(app, domain, "OK", by=by)

    def tick(self) -> None:
        """One run of the conductor (what a commit or the due time triggers)."""
        self.conductor.tick()

    def poll(self) -> None:
        """One EPM poll cycle (tracked jobs resolve)."""
        self.poller.run_cycle()

    def started(self) -> list[str]:
        """The names of the jobs EPM was asked to start, oldest first."""
        return [str(s.body.get("jobName")) for s in self.epm.starts()]

    def channel(self) -> list[str]:
        """Texts posted to the alert channel, oldest first."""
        return [m.text or "" for m in self.slack.messages(CHANNEL)]

    def restart(self, **faults: Any) -> Conducted:
        """A new process over the same data dir (same clock and sandboxes)."""
        self.close()
        return open_conducted(self.config, self.clock, self.slack, self.epm, **faults)

    def close(self) -> None:
        """Stop the conductor and close the poller, clients and store."""
        self.conductor.stop()
        self.poller.close()
        for client in self.clients.values():
            client.close()
        self.store.close()


def open_conducted(
    config: Config,
    clock: FakeNow,
    slack: SlackSandbox,
    epm: EpmSandbox,
    *,
    client: WebClient | None = None,
    starter: Callable[[EpmClient], JobStarter] | None = None,
) -> Conducted:
    """Store, service, launcher, poller and conductor (not started) over ``config``.

    ``client`` replaces the conductor's Slack client and ``starter`` wraps each EPM client
    the launcher starts jobs with (fault injection).
    """
    store = ClockedStore(config.settings.data_dir, clock)
    service = StatusService(config.estate.layout, store, clock=clock)
    clients = {
        name: EpmClient(name, server, data_dir=config.settings.data_dir)
        for name, server in config.estate.epm.servers.items()
    }
    starters = {n: starter(c) if starter else c for n, c in clients.items()}
    launcher = JobLauncher(service, starters, estate=config.estate)
    lease = Lease.held()
    lease.epoch = claim_epoch(store)  # as each gain of leadership does
    conductor = Conductor(
        service,
        launcher,
        BackgroundScheduler(timezone=UTC),  # never started: tests tick by hand
        post=poster(
            client or build_web_client(config.settings, server_errors=0),
            config.settings.slack_channel_id,
        ),
        clock=clock,
        lease=lease,
    )
    poller = Poller(service, clients)
    return Conducted(
        config, clock, slack, epm, store, service, clients, launcher, poller, conductor, lease
    )
