"""Leadership: leader-only parts in the runtime, and the PostgreSQL election."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from bot.config import Config
from bot.errors import EpmPulseError
from bot.leader import PostgresLeadership, SoleLeader
from bot.parts import Check
from bot.runtime import Runtime
from tests.conftest import MakeConfig, wait_until

TIMEOUT = 2.0  # leader timeout for these tests: beat 0.4 s, grace 0.8 s


class _Part:
    """A part recording its lifecycle; ``halt`` is what losing leadership calls."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self._log = log

    def start(self) -> None:
        self._log.append(f"start {self.name}")

    def stop(self) -> None:
        self._log.append(f"stop {self.name}")

    def halt(self) -> None:
        self._log.append(f"halt {self.name}")

    def health(self) -> Check:
        return Check(True, f"{self.name} running")


def beats_later(leadership: PostgresLeadership, count: int) -> Callable[[], bool]:
    """A condition that holds once ``leadership`` has done ``count`` more beats."""
    target = leadership.beats + count
    return lambda: leadership.beats >= target


def test_with_the_json_store_leader_only_parts_run_in_order_from_start_to_stop(
    config: Config,
) -> None:
    """A single run always leads: its leader-only parts start once every other part has
    started, before start returns, and stop cleanly."""
    log: list[str] = []
    runtime = Runtime(config)
    runtime.add(_Part("slack", log))
    runtime.add_leader_only("canvas", lambda: _Part("canvas", log))
    runtime.add(_Part("api", log))
    runtime.start()
    assert isinstance(runtime.leadership, SoleLeader)
    assert runtime.role().leader and runtime.health()["canvas"].detail == "canvas running"
    assert b"\nepmpulse_leader 1.0\n" in runtime.metrics.render()
    runtime.stop()
    assert log == [
        "start slack",
        "start api",
        "start canvas",
        "stop api",
        "stop canvas",
        "stop slack",
    ]


@pytest.fixture
def elect(pg_url: str) -> Iterator[Callable[[str], tuple[PostgresLeadership, list[str]]]]:
    """Start electors on one database; each logs gain/loss; all stopped afterwards."""
    started: list[PostgresLeadership] = []

    def start(name: str) -> tuple[PostgresLeadership, list[str]]:
        events: list[str] = []
        leadership = PostgresLeadership(pg_url, timeout_seconds=TIMEOUT, instance=name)
        leadership.start(lambda: events.append("gain"), lambda: events.append("loss"))
        started.append(leadership)
        return leadership, events

    yield start
    for leadership in started:
        leadership.stop()


def test_exactly_one_of_three_instances_leads(
    elect: Callable[[str], tuple[PostgresLeadership, list[str]]],
) -> None:
    """Three electors on one database: one leader, the others keep waiting."""
    electors = [elect(f"i{n}") for n in range(3)]
    wait_until(lambda: sum(e.is_leader for e, _ in electors) == 1, "one leader", TIMEOUT)
    # Every follower tries the lock on each beat: three more tries each, and still one.
    for elector, _ in electors:
        wait_until(beats_later(elector, 3), f"three beats of {elector.instance}", 10)
    assert sum(e.is_leader for e, _ in electors) == 1
    assert sorted(events for _, events in electors) == [[], [], ["gain"]]


def test_a_stopped_leader_is_replaced_within_the_timeout(
    elect: Callable[[str], tuple[PostgresLeadership, list[str]]],
) -> None:
    """Stopping the leader hands the lock over; another instance leads within the timeout."""
    first, first_events = elect("first")
    assert first.is_leader  # free lock: won during start
    second, second_events = elect("second")
    assert not second.is_leader
    at_stop = second.beats
    first.stop()
    assert first_events == ["gain", "loss"]
    wait_until(lambda: second.is_leader, "the second leads", TIMEOUT)
    # The lock is free at once: the beat under way and the next one are all it takes.
    assert second.beats - at_stop <= 2
    assert second_events == ["gain"]


def test_a_leader_whose_connection_is_cut_stops_at_once_and_stays_stopped(
    pg_url: str, elect: Callable[[str], tuple[PostgresLeadership, list[str]]]
) -> None:
    """pg_terminate_backend of the leader's session: it loses within a beat, no overlap."""
    leader, events = elect("cut")
    assert leader.is_leader
    schema = pg_url.rsplit("search_path%3D", 1)[1]
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            ("epmpulse-leader cut",),
        )

        # Take the lock ourselves, as another instance would: the old leader must not lead.
        # pg_terminate_backend only signals the backend; its lock goes when it has exited.
        def take_lock() -> bool:
            row = admin.execute(
                "SELECT pg_try_advisory_lock(hashtext('epmpulse.leader.' || %s))", (schema,)
            ).fetchone()
            return row == (True,)

        wait_until(take_lock, "the test holds the lock", TIMEOUT)
        at_cut = leader.beats
        wait_until(lambda: not leader.is_leader, "the cut leader steps down", TIMEOUT)
        assert leader.beats - at_cut <= 2  # within the beat under way and the next
        assert events == ["gain", "loss"]
        wait_until(beats_later(leader, 4), "four beats of the cut instance", 10)
        assert not leader.is_leader and events == ["gain", "loss"]


def test_a_runtime_halts_its_leader_parts_when_leadership_is_lost(
    pg_url: str, make_config: MakeConfig
) -> None:
    """On loss the leader-only parts are halted (no final flush); on standby health is ok."""
    config = make_config(EPMPULSE_DATABASE_URL=pg_url, EPMPULSE_LEADER_TIMEOUT_SECONDS="2")
    log: list[str] = []
    runtime = Runtime(config)
    runtime.add_leader_only("canvas", lambda: _Part("canvas", log))
    runtime.start()
    other = PostgresLeadership(pg_url, timeout_seconds=TIMEOUT, instance="other")
    gained = threading.Event()
    try:
        assert runtime.role().leader and log == ["start canvas"]
        other.start(gained.set, lambda: None)
        assert not other.is_leader
        with psycopg.connect(pg_url, autocommit=True) as admin:
            # This runtime's session only: other test runs may share the server.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (f"epmpulse-leader {runtime.role().instance}",),
            )
        assert gained.wait(TIMEOUT + 1)
        assert not runtime.role().leader
        assert log == ["start canvas", "halt canvas"]
        assert b"\nepmpulse_leader 0.0\n" in runtime.metrics.render()
        health = runtime.health()["canvas"]
        assert health.ok and health.detail.startswith("standby")
    finally:
        other.stop()
        runtime.stop()
    assert log == ["start canvas", "halt canvas"]


def test_a_leader_whose_session_no_longer_holds_the_lock_steps_down(
    elect: Callable[[str], tuple[PostgresLeadership, list[str]]],
) -> None:
    """A live session without the lock (a pooler swapped it, an unlock-all) is no leader."""
    leader, events = elect("unlocked")
    assert leader.is_leader
    # What a transaction pooler or a stray pg_advisory_unlock_all() leaves behind.
    leader._conn.execute("SELECT pg_advisory_unlock_all()")
    wait_until(lambda: not leader.is_leader, "the leader steps down", TIMEOUT)
    assert events == ["gain", "loss"]


def test_a_second_run_on_the_same_json_data_directory_is_refused(tmp_path: Path) -> None:
    """One `run` per JSON store: a second one would send every alert twice."""
    first = SoleLeader("host:1", lock_path=tmp_path / "run.lock")
    second = SoleLeader("host:2", lock_path=tmp_path / "run.lock")
    gained: list[str] = []
    first.start(lambda: gained.append("first"), lambda: None)
    with pytest.raises(EpmPulseError, match=r"another epmpulse run \(host:1\) already serves"):
        second.start(lambda: gained.append("second"), lambda: None)
    assert gained == ["first"] and not second.is_leader
    first.stop()
    second.start(lambda: gained.append("second"), lambda: None)
    assert gained == ["first", "second"]
    second.stop()
