"""Leadership under faults (SPEC §15): a slow start never stops the heartbeat, and a
leader that lost its lease sends nothing, however late its start returns."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bot.canvas.part import CanvasPart
from bot.config import Config, load_config
from bot.leader import PostgresLeadership
from bot.lease import LeaseLostError
from bot.runtime import Runtime
from bot.sandbox.slack import SlackSandbox
from bot.slack.client import LeasedWebClient
from tests.conftest import FakeClock, wait_until

TIMEOUT = 3.0  # lease and grace 1 s, a beat every 0.6 s


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
        b_edits = len(sandbox.calls("canvases.edit"))
        # One more flush of B's proves the scheduler ran after A's start returned.
        b.service.set("ARCS", "Reconciliation", "Error", "after A's start", by="system")
        wait_until(lambda: "after A's start" in sandbox.canvas_markdown(canvas_id), "B's flush", 10)
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
    leadership = PostgresLeadership(pg_url, timeout_seconds=TIMEOUT, instance="stuck", clock=clock)
    leadership.start(lambda: None, lambda: None)
    stuck, release = threading.Event(), threading.Event()
    beat = leadership._query

    def stuck_beat(sql: str) -> bool:
        stuck.set()
        release.wait(10)
        return beat(sql)

    leadership._query = stuck_beat  # type: ignore[method-assign]
    client = LeasedWebClient(leadership.lease, token=sandbox.bot_token, base_url=sandbox.api_url)
    try:
        assert leadership.is_leader and leadership.lease.fresh
        assert stuck.wait(5), "the next beat never started"
        clock.advance(leadership.lease_seconds / 2)
        client.chat_postMessage(channel="C0GENERAL", text="within the lease")
        clock.advance(leadership.lease_seconds / 2)
        with pytest.raises(LeaseLostError):
            client.chat_postMessage(channel="C0GENERAL", text="after the lease")
        assert [c.args["text"] for c in sandbox.calls("chat.postMessage")] == ["within the lease"]
    finally:
        release.set()
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


def test_a_new_leader_waits_at_least_the_old_leaders_lease() -> None:
    """The wait after winning the lock covers any lease an old leader can still hold."""
    leadership = PostgresLeadership("postgresql://unused", timeout_seconds=10.0)
    assert leadership.grace >= leadership.lease_seconds
    assert leadership.beat < leadership.lease_seconds
