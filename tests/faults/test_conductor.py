"""The close conductor under faults (SPEC §15, §17): a leader failover during the start's
delay (real PostgreSQL, two instances) gives exactly one announcement and one EPM start;
a crash at a named point repeats at most the one announcement and never a start."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.close.conducting import Conductor
from bot.config import Config, load_config
from bot.epm.client import EpmClient
from bot.epm.launch import JobLauncher
from bot.leader import PostgresLeadership
from bot.runtime import Runtime
from bot.sandbox.epm import EpmSandbox
from bot.sandbox.slack import SlackSandbox
from bot.slack.client import build_leased_client
from bot.slack.posting import poster
from tests.close.conducting import START, Conducted, estate_yaml, open_conducted
from tests.conftest import FakeNow, MakeConfig, wait_until
from tests.faults.faulty import Crash, CrashingClient
from tests.faults.test_leadership import terminate_leader_session

TIMEOUT = 3.0  # a lease of 1 s, a wait of 2 s after winning
CHANNEL = "C0CONDUCT"


@dataclass
class ShiftedClock:
    """Real time plus an offset the test moves (the instances' scheduler keeps real time)."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        """Now, shifted."""
        return datetime.now(UTC) + self.offset


@dataclass
class Instance:
    """One ``epmpulse run`` in this process: its runtime and every conductor it built."""

    runtime: Runtime
    clients: dict[str, EpmClient]
    conductors: list[Conductor]

    def conductor(self) -> Conductor | None:
        """The running conductor (None while not leading)."""
        part = self.runtime.leader_part("conductor")
        return part if isinstance(part, Conductor) else None


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    """A Slack sandbox with the alert channel."""
    with SlackSandbox() as running:
        running.add_channel(CHANNEL, "close")
        yield running


@pytest.fixture
def epm() -> Iterator[EpmSandbox]:
    """An EPM sandbox whose started jobs run until polled (nobody polls here)."""
    with EpmSandbox(username="svc_epm", password="basic-password-9c1d") as running:
        yield running


def instance_config(
    tmp_path: Path, name: str, slack: SlackSandbox, epm: EpmSandbox, pg_url: str
) -> Config:
    """One instance's configuration on the shared database."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "epmpulse.yml").write_text(estate_yaml(epm, delay=2), encoding="utf-8")
    return load_config(
        {
            "EPMPULSE_CONFIG": str(folder / "epmpulse.yml"),
            "EPMPULSE_DATA_DIR": str(folder / "data"),
            "EPMPULSE_DATABASE_URL": pg_url,
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_API_URL": slack.api_url,
            "SLACK_CHANNEL_ID": CHANNEL,
        },
        cwd=tmp_path,
    )


def start_instance(config: Config, pg_url: str, name: str, clock: ShiftedClock) -> Instance:
    """A runtime whose only leader-only part is the conductor; started."""
    leadership = PostgresLeadership(pg_url, timeout_seconds=TIMEOUT, instance=name)
    runtime = Runtime(config, leadership=leadership)
    clients = {
        n: EpmClient(n, s, data_dir=config.settings.data_dir)
        for n, s in config.estate.epm.servers.items()
    }
    launcher = JobLauncher(runtime.service, clients, estate=config.estate)
    client = build_leased_client(config.settings, runtime.lease)
    built: list[Conductor] = []

    def build() -> Conductor:
        part = Conductor(
            runtime.service,
            launcher,
            runtime.scheduler,
            post=poster(client, CHANNEL),
            clock=clock,
            lease=runtime.lease,
        )
        built.append(part)
        return part

    runtime.add_leader_only("conductor", build)
    runtime.start()
    return Instance(runtime, clients, built)


def test_a_failover_during_the_delay_starts_the_job_exactly_once(
    tmp_path: Path, slack: SlackSandbox, epm: EpmSandbox, pg_url: str
) -> None:
    """A announces and loses its session; B takes over: one announcement, one POST, by B."""
    clock = ShiftedClock()
    a = start_instance(instance_config(tmp_path, "A", slack, epm, pg_url), pg_url, "A", clock)
    b: Instance | None = None
    try:
        wait_until(lambda: a.conductor() is not None, "A to lead", 10)
        a.runtime.service.set("Planning", "Actuals", "OK", by="slack:U0CLOSER")
        # The commit wakes A's conductor at once (a listener), not a poll of the clock.
        wait_until(lambda: len(slack.messages(CHANNEL)) == 1, "A's announcement", 10)
        assert "in 2 min" in (slack.messages(CHANNEL)[0].text or "")
        b = start_instance(instance_config(tmp_path, "B", slack, epm, pg_url), pg_url, "B", clock)
        assert b.conductor() is None  # A still leads
        terminate_leader_session(pg_url, "A")
        wait_until(lambda: a.conductor() is None, "A to step down", 10)
        wait_until(lambda: b.conductor() is not None, "B to lead", 15)
        conductor_b = b.conductor()
        assert conductor_b is not None
        # B resumed with the time left: armed for the same due time, nothing sent yet.
        wait_until(lambda: conductor_b.next_wake is not None, "B to arm its wake-up", 10)
        assert epm.starts() == []
        clock.offset = timedelta(minutes=2)
        # Both wake at the due time: A's halted conductor and B's.
        for conductor in [*a.conductors, conductor_b]:
            conductor.wake()
        wait_until(lambda: b.runtime.service.get("FCCS", "Actuals").jobs, "the tracked job", 10)
        assert len(epm.starts()) == 1
        assert [c.starts for c in a.conductors] == [0] * len(a.conductors)
        assert conductor_b.starts == 1
        assert len(slack.messages(CHANNEL)) == 1  # B did not announce it again
        record = b.runtime.service.get("FCCS", "Actuals")
        assert record.updated_by == "system"
        conductor_b.wake()
        assert len(epm.starts()) == 1
    finally:
        for instance in (b, a):
            if instance is not None:
                instance.runtime.stop()
                for client in instance.clients.values():
                    client.close()


# --- crashes at named points (JSON store, virtual clock) ----------------------------


class CrashingStarter:
    """An EPM client whose job start kills the process before the POST leaves."""

    def __init__(self, inner: EpmClient) -> None:
        self.inner = inner

    def start_job(self, job_type: str, job_name: str, parameters: Mapping[str, Any]) -> str:
        """Die here: the claim and the launcher's reservation are committed, no POST."""
        raise Crash(f"killed before starting {job_name}")


def open_first(
    make_config: MakeConfig, slack: SlackSandbox, epm: EpmSandbox, **faults: Any
) -> Conducted:
    """The first process over a fresh data dir, with ``faults``."""
    config = make_config(
        estate_yaml(epm, delay=2),
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_API_URL=slack.api_url,
        SLACK_CHANNEL_ID=CHANNEL,
    )
    return open_conducted(config, FakeNow(START), slack, epm, **faults)


def test_a_crash_between_claiming_and_posting_the_announcement_posts_it_once_after_restart(
    make_config: MakeConfig, slack: SlackSandbox, epm: EpmSandbox
) -> None:
    """Killed before the post: the next process posts it; the job starts once, on time."""
    inner = WebClient(token=slack.bot_token, base_url=slack.api_url)
    first = open_first(make_config, slack, epm, client=CrashingClient(inner, crash_on_post=1))
    first.ok("Planning", "Actuals")
    with pytest.raises(Crash):
        first.tick()
    assert slack.messages(CHANNEL) == []
    again = first.restart()
    try:
        again.tick()
        assert len(slack.messages(CHANNEL)) == 1
        again.clock.advance(minutes=2)
        again.tick()
        again.tick()
        assert again.started() == ["Load Actuals"]
        assert len(slack.messages(CHANNEL)) == 1
    finally:
        again.close()


def test_a_crash_after_the_start_was_claimed_never_sends_a_second_start(
    make_config: MakeConfig, slack: SlackSandbox, epm: EpmSandbox
) -> None:
    """Killed inside the start: the next process sends no POST and says it may have started."""
    first = open_first(make_config, slack, epm, starter=CrashingStarter)
    first.ok("Planning", "Actuals")
    first.tick()
    first.clock.advance(minutes=2)
    with pytest.raises(Crash):
        first.tick()
    again = first.restart()
    try:
        again.tick()
        again.clock.advance(minutes=30)  # the launcher's reservation has long expired
        again.tick()
        assert again.started() == []
        notices = [
            m.text or "" for m in slack.messages(CHANNEL) if "may or may not" in (m.text or "")
        ]
        assert len(notices) == 1 and "`/epmpulse run FCCS Actuals`" in notices[0]
    finally:
        again.close()
