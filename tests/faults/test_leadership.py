"""Leadership under faults (SPEC §15): a slow start never stops the heartbeat, and a
leader that lost its lease sends nothing, however late its start returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bot.canvas.part import CanvasPart
from bot.canvas.publisher import replace_document
from bot.config import Config, load_config
from bot.leader import PostgresLeadership
from bot.lease import Lease, LeaseLostError
from bot.runtime import Check, Runtime
from bot.sandbox.slack import SlackSandbox
from bot.slack.client import WEB_API_ERRORS, LeasedWebClient
from tests.conftest import FakeClock, MakeConfig, wait_until
from tests.faults.faulty import HeldBeats

TIMEOUT = 3.0  # a lease of 1 s, a wait of 2 s after winning, a beat every 0.6 s


@pytest.fixture
def sandbox() -> Iterator[SlackSandbox]:
    """A fresh Slack sandbox on loopback."""
    with SlackSandbox() as running:
        yield running


def leader_config(
    tmp_path: Path, sandbox: SlackSandbox, pg_url: str, canvas_id: str, title: str
) -> Config:
    """An instance on the shared database whose canvas title names it."""
    (tmp_path / title).mkdir()
    path = tmp_path / title / "epmpulse.yml"
    path.write_text(f"canvas: {{title: {title}}}\n", encoding="utf-8")
    return load_config(
        {
            "EPMPULSE_CONFIG": str(path),
            "EPMPULSE_DATA_DIR": str(tmp_path / title / "data"),
            "EPMPULSE_DATABASE_URL": pg_url,
            "SLACK_BOT_TOKEN": sandbox.bot_token,
            "SLACK_API_URL": sandbox.api_url,
            "SLACK_CANVAS_ID": canvas_id,
            "EPMPULSE_CANVAS_DEBOUNCE_SECONDS": "0.2",
        },
        cwd=tmp_path,
    )


def canvas_runtime(config: Config, pg_url: str, instance: str) -> Runtime:
    """A runtime whose only leader-only part is the canvas."""
    leadership = PostgresLeadership(pg_url, timeout_seconds=TIMEOUT, instance=instance)
    runtime = Runtime(config, leadership=leadership)
    runtime.add_leader_only("canvas", lambda: CanvasPart(runtime))
    return runtime


def terminate_leader_session(pg_url: str, instance: str) -> None:
    """pg_terminate_backend on one instance's leader session."""
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"epmpulse-leader {instance}",),
        )


def test_a_slow_start_keeps_the_heartbeat_and_the_old_leader_never_edits_late(
    tmp_path: Path, sandbox: SlackSandbox, pg_url: str
) -> None:
    """A's canvas start hangs on Slack; A's session dies; B leads; A's late edit never goes out."""
    canvas_id = sandbox.create_canvas("")
    a = canvas_runtime(leader_config(tmp_path, sandbox, pg_url, canvas_id, "Leader-A"), pg_url, "A")
    b = canvas_runtime(leader_config(tmp_path, sandbox, pg_url, canvas_id, "Leader-B"), pg_url, "B")
    gate = sandbox.hold("canvases.sections.lookup")
    starting_a = threading.Thread(target=a.start, name="start-a")
    starting_a.start()
    try:
        assert gate.arrived.wait(10), "A's canvas start never reached Slack"
        # The part is stuck in its start, and the heartbeat still confirms the lease.
        renewed = a.lease.expires_at
        wait_until(lambda: a.lease.expires_at > renewed + 1.0, "two more confirmed beats", 10)
        terminate_leader_session(pg_url, "A")
        wait_until(lambda: not a.lease.fresh and not a.leadership.is_leader, "A to step down", 10)
        b.start()
        wait_until(lambda: "# Leader-B" in sandbox.canvas_markdown(canvas_id), "B's canvas", 10)
        gate.release()
        starting_a.join(10)
        assert not starting_a.is_alive()
        assert a.leader_part("canvas") is None
        # The canvas changes just before its call is logged: wait for the logged call.
        sandbox.wait_for_call("canvases.edit", where=lambda c: "Leader-B" in str(c.args))
        b_edits = len(sandbox.calls("canvases.edit"))
        # One more flush of B's proves the scheduler ran after A's start returned.
        b.service.set("ARCS", "Reconciliation", "Error", "after A's start", by="system")
        sandbox.wait_for_call(
            "canvases.edit", where=lambda c: "after A's start" in str(c.args), timeout=10
        )
        edits = sandbox.calls("canvases.edit")
        assert len(edits) == b_edits + 1
        assert all("Leader-A" not in str(call.args) for call in edits)
    finally:
        gate.release()
        starting_a.join(10)
        b.stop()
        a.stop()


def test_a_leader_whose_heartbeat_cannot_run_sends_nothing_once_its_lease_runs_out(
    pg_url: str, sandbox: SlackSandbox
) -> None:
    """The beat is stuck (a named point): no confirmed beat, so the lease runs out by time."""
    clock = FakeClock()
    leadership = HeldBeats(pg_url, timeout_seconds=TIMEOUT, instance="stuck", clock=clock)
    leadership.start(lambda: None, lambda: None)
    leadership.holding = True
    client = LeasedWebClient(leadership.lease, token=sandbox.bot_token, base_url=sandbox.api_url)
    try:
        assert leadership.is_leader and leadership.lease.fresh
        assert leadership.arrived.wait(5), "the next beat never started"
        clock.advance(leadership.lease_seconds / 2)
        client.chat_postMessage(channel="C0GENERAL", text="within the lease")
        clock.advance(leadership.lease_seconds / 2)
        with pytest.raises(LeaseLostError):
            client.chat_postMessage(channel="C0GENERAL", text="after the lease")
        assert [c.args["text"] for c in sandbox.calls("chat.postMessage")] == ["within the lease"]
    finally:
        leadership.release.set()
        leadership.stop()


def test_the_leader_session_sets_tcp_user_timeout_on_both_ends(pg_url: str) -> None:
    """A vanished host with data in flight frees the lock within the timeout, not ~15 min."""
    leadership = PostgresLeadership(pg_url, timeout_seconds=TIMEOUT, instance="tcp")
    leadership.start(lambda: None, lambda: None)
    try:
        conn = leadership._conn
        assert conn.info.get_parameters()["tcp_user_timeout"] == "1000"
        assert conn.execute("SHOW tcp_user_timeout").fetchone()[0] == "1000"  # ms, server side
    finally:
        leadership.stop()


def test_a_new_leader_waits_out_the_old_lease_and_its_last_write() -> None:
    """The wait after winning the lock covers an old lease plus a write sent at its end."""
    leadership = PostgresLeadership("postgresql://unused", timeout_seconds=10.0)
    longest_write = leadership.lease_seconds  # the leased client caps a write's wait at it
    assert leadership.grace >= leadership.lease_seconds + longest_write
    assert leadership.beat < leadership.lease_seconds


def test_a_write_still_unanswered_when_the_lease_runs_out_is_abandoned(
    sandbox: SlackSandbox,
) -> None:
    """A canvas edit waits for Slack no longer than the lease left, then gives up."""
    lease = Lease()
    lease.renew(time.monotonic() + 0.5)
    canvas_id = sandbox.create_canvas("")
    gate = sandbox.hold("canvases.edit")
    client = LeasedWebClient(lease, token=sandbox.bot_token, base_url=sandbox.api_url, timeout=30)
    try:
        with pytest.raises(WEB_API_ERRORS):
            replace_document(client, canvas_id, "# late")
        assert gate.arrived.is_set()
    finally:
        gate.release()


def test_a_beat_that_comes_back_after_the_lease_ran_out_ends_leadership_and_it_is_won_anew(
    pg_url: str,
) -> None:
    """A lapse without a loss would leave stopped parts behind: it counts as a loss."""
    clock = FakeClock()
    events: list[str] = []
    leadership = HeldBeats(pg_url, timeout_seconds=TIMEOUT, instance="lapse", clock=clock)
    leadership.start(lambda: events.append("gain"), lambda: events.append("loss"))
    leadership.holding = True
    try:
        assert leadership.arrived.wait(5)
        clock.advance(leadership.lease_seconds + 0.1)  # the beat is slower than the lease
        leadership.release.set()
        wait_until(lambda: events[:2] == ["gain", "loss"], "the lapse to count as a loss", 10)
        wait_until(lambda: events == ["gain", "loss", "gain"], "leadership won anew", 10)
        assert leadership.lease.fresh
    finally:
        leadership.release.set()
        leadership.stop()


class _SlowFirstStart:
    """A leader-only part whose first start blocks until released; logs its life."""

    starts = 0

    def __init__(self, log: list[str], release: threading.Event) -> None:
        _SlowFirstStart.starts += 1
        self.number = _SlowFirstStart.starts
        self.name = "slow"
        self._log = log
        self._release = release

    def start(self) -> None:
        self._log.append(f"start {self.number}")
        if self.number == 1:
            self._release.wait(10)
        self._log.append(f"started {self.number}")

    def stop(self) -> None:
        self._log.append(f"stop {self.number}")

    def halt(self) -> None:
        self._log.append(f"halt {self.number}")

    def health(self) -> Check:
        return Check(True, "running")


def test_the_same_instance_winning_again_waits_for_the_earlier_terms_start(
    pg_url: str, make_config: MakeConfig
) -> None:
    """Lost and won again while a part still starts: the old part is halted before the new
    one starts, so two terms never run side by side in one process."""
    _SlowFirstStart.starts = 0
    config = make_config(EPMPULSE_DATABASE_URL=pg_url)
    log: list[str] = []
    release = threading.Event()
    leadership = PostgresLeadership(pg_url, timeout_seconds=TIMEOUT, instance="again")
    runtime = Runtime(config, leadership=leadership)
    runtime.add_leader_only("slow", lambda: _SlowFirstStart(log, release))
    starting = threading.Thread(target=runtime.start, name="start")
    starting.start()
    try:
        wait_until(lambda: log == ["start 1"], "the first start to hang", 10)
        terminate_leader_session(pg_url, "again")
        wait_until(lambda: not leadership.is_leader, "the loss", 10)
        wait_until(lambda: leadership.is_leader, "the same instance to win again", 10)
        assert log == ["start 1"]  # the new term waits for the old start
        release.set()
        wait_until(lambda: "started 2" in log, "the new term's part", 10)
        assert log == ["start 1", "started 1", "halt 1", "start 2", "started 2"]
        starting.join(10)
        assert runtime.leader_part("slow") is not None
    finally:
        release.set()
        starting.join(10)
        runtime.stop()
