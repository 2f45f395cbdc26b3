"""Job starts under faults (SPEC §15, "Job starts"): EPM never starts one domain's job twice.

Once EPM has answered with a job id, the reservation (store meta ``jobs.starting``) is
kept until that job is tracked, whatever the store does at that moment. Each test puts
its fault at a named commit of :meth:`JobLauncher.run` (1: the reservation, 2: the
domain becomes Loading and tracks the job, 3: the job id is written into the
reservation) and counts the starts the EPM sandbox received.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import yaml

from bot.config import Config
from bot.epm.client import EpmClient
from bot.epm.launch import STARTING_META, JobLauncher, JobNotRecordedError
from bot.epm.tracking import track
from bot.errors import JobRunningError, JobStartError, StoreError
from bot.model import JobRef, Status, parse_time
from bot.sandbox.epm import EpmSandbox
from bot.service import StatusService
from bot.store import Store, WorkingState
from bot.store.base import Mutation
from bot.store.postgres import PostgresStore
from tests.conftest import FakeNow, MakeConfig
from tests.epm.conftest import server_doc
from tests.epm.test_launch import ClockedStore

T = TypeVar("T")

HP_JOBS = "/HyperionPlanning/rest/v3/applications/Vision/jobs"
RESERVE, RECORD, NAME_JOB = 1, 2, 3  # the commits of one run, in order
# The service's clock: this host's own idea of the time, which reservations must not use.
HOST_TIME = datetime(2001, 1, 1, tzinfo=UTC)


class Killed(BaseException):
    """The process died here: no handler runs and nothing more is written."""


class FaultyStore(ClockedStore):
    """A JSON store with its own clock whose commits fail or kill the process at set points.

    Commits are counted from 1. One in ``fail`` fails once like a full disk (the mutation
    runs on a copy, nothing is written). ``die_before`` kills the process instead of that
    commit; ``die_after`` kills it once that commit is durable. A dead store writes nothing.
    """

    def __init__(
        self,
        data_dir: Path,
        clock: FakeNow,
        *,
        fail: tuple[int, ...] = (),
        die_before: int | None = None,
        die_after: int | None = None,
    ) -> None:
        super().__init__(data_dir, clock)
        self.commits = 0
        self.fail = set(fail)
        self.die_before = die_before
        self.die_after = die_after
        self.dead = False

    def commit(self, mutation: Mutation[T]) -> T:
        """Commit, fail or die as set for this commit's number."""
        self.commits += 1
        if self.dead or self.commits == self.die_before:
            self.dead = True
            raise Killed(f"killed before commit {self.commits}")
        if self.commits in self.fail:
            self.fail.discard(self.commits)
            base = self.snapshot()
            mutation(WorkingState(base.version, dict(base.records), dict(base.meta)))
            raise StoreError(f"cannot write to {self.data_dir}: No space left on device")
        result = super().commit(mutation)
        if self.commits == self.die_after:
            self.dead = True
            raise Killed(f"killed after commit {self.commits}")
        return result


@pytest.fixture
def epm() -> Iterator[EpmSandbox]:
    """A started EPM sandbox (basic auth)."""
    with EpmSandbox(username="svc_epm", password="basic-password-9c1d") as sandbox:
        yield sandbox


@pytest.fixture
def estate(make_config: MakeConfig, epm: EpmSandbox) -> Config:
    """Planning / Actuals has an EPM job on the planning server."""
    document = {
        "apps": {
            "Planning": {
                "domains": ["Actuals"],
                "server": "planning",
                "jobs": {"Actuals": {"type": "RULES", "name": "Aggregate Actuals"}},
            }
        },
        "epm": {"servers": {"planning": server_doc(epm, timeout_seconds=2)}},
    }
    return make_config(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture
def store_clock() -> FakeNow:
    """The store's clock, which every process on the store shares."""
    return FakeNow()


Launch = Callable[[Store], JobLauncher]


@pytest.fixture
def launcher_on(estate: Config, tmp_path: Path) -> Iterator[Launch]:
    """One process: a launcher on ``store`` whose service clock is wrong (HOST_TIME)."""
    opened: list[tuple[Store, EpmClient]] = []

    def open_(store: Store) -> JobLauncher:
        server = estate.estate.epm.servers["planning"]
        client = EpmClient("planning", server, data_dir=tmp_path / "epm")
        opened.append((store, client))
        service = StatusService(estate.estate.layout, store, clock=lambda: HOST_TIME)
        return JobLauncher(service, {"planning": client}, estate=estate.estate)

    yield open_
    for store, client in opened:
        client.close()
        store.close()


@pytest.fixture
def faulty(estate: Config, store_clock: FakeNow) -> Callable[..., FaultyStore]:
    """Open a FaultyStore on the estate's data directory with the shared store clock."""

    def open_(**faults: Any) -> FaultyStore:
        return FaultyStore(estate.settings.data_dir, store_clock, **faults)

    return open_


def test_a_second_run_after_the_record_failed_is_refused_naming_the_job_without_a_post(
    launcher_on: Launch, faulty: Callable[..., FaultyStore], epm: EpmSandbox, store_clock: FakeNow
) -> None:
    """EPM answered 1001, the Loading commit failed: the next run sends nothing and names 1001.

    The reservation, now naming its job, does not expire: only tracking the job ends it.
    """
    launcher = launcher_on(faulty(fail=(RECORD,)))
    with pytest.raises(JobNotRecordedError, match="as job 1001"):
        launcher.run("Planning", "Actuals", by="slack:U1")
    held = launcher.service.meta(STARTING_META)["Planning/Actuals"]
    assert (held["by"], held["server"], held["job"]) == ("slack:U1", "planning", "1001")

    store_clock.advance(hours=3)
    with pytest.raises(JobRunningError) as caught:
        launcher.run("Planning", "Actuals", by="slack:U2")
    assert "already running: EPM started job 1001" in str(caught.value)
    assert "`/epmpulse track Planning Actuals 1001`" in str(caught.value)
    assert len(epm.starts()) == 1
    assert launcher.service.get("Planning", "Actuals").status is Status.PENDING


def test_when_even_the_job_id_cannot_be_written_the_reservation_stays_until_it_expires(
    launcher_on: Launch, faulty: Callable[..., FaultyStore], epm: EpmSandbox, store_clock: FakeNow
) -> None:
    """Both later commits fail: the reservation stays as it was and expires on the store clock."""
    launcher = launcher_on(faulty(fail=(RECORD, NAME_JOB)))
    with pytest.raises(JobNotRecordedError):
        launcher.run("Planning", "Actuals", by="slack:U1")
    held = launcher.service.meta(STARTING_META)["Planning/Actuals"]
    assert "job" not in held
    assert parse_time(held["at"]) == store_clock.now

    store_clock.advance(minutes=9)
    with pytest.raises(JobRunningError, match="already running"):
        launcher.run("Planning", "Actuals", by="slack:U2")
    assert len(epm.starts()) == 1
    store_clock.advance(minutes=2)
    assert launcher.run("Planning", "Actuals", by="slack:U2").job_id == "1002"


def test_tracking_the_started_job_ends_the_reservation_and_a_later_run_is_allowed(
    launcher_on: Launch, faulty: Callable[..., FaultyStore], epm: EpmSandbox
) -> None:
    """A status change that tracks job 1001 (what track does) ends its reservation."""
    launcher = launcher_on(faulty(fail=(RECORD,)))
    with pytest.raises(JobNotRecordedError):
        launcher.run("Planning", "Actuals", by="slack:U1")
    with pytest.raises(JobRunningError, match="EPM started job 1001"):
        launcher.run("Planning", "Actuals", by="slack:U1")

    service = launcher.service
    job = JobRef(server="planning", job_id="1001")
    service.set("Planning", "Actuals", "Loading", "following 1001", by="api:ci", jobs=[job])
    assert service.meta(STARTING_META) == {}
    with pytest.raises(JobRunningError, match="already running: job 1001"):
        launcher.run("Planning", "Actuals", by="slack:U1")

    service.set("Planning", "Actuals", "OK", "Aggregated", by="epm:planning")  # the job ended
    assert launcher.run("Planning", "Actuals", by="slack:U1").job_id == "1002"
    assert len(epm.starts()) == 2


def test_the_track_command_naming_the_job_ends_the_reservation_but_another_job_does_not(
    launcher_on: Launch, faulty: Callable[..., FaultyStore]
) -> None:
    """``/epmpulse track Planning Actuals 1001`` ends it; tracking job 77 leaves it held."""
    launcher = launcher_on(faulty(fail=(RECORD,)))
    with pytest.raises(JobNotRecordedError):
        launcher.run("Planning", "Actuals", by="slack:U1")
    service = launcher.service

    track(service, "Planning", "Actuals", "77", by="slack:U1")
    assert "Planning/Actuals" in service.meta(STARTING_META)
    track(service, "planning", "actuals", "1001", by="slack:U1")
    assert service.meta(STARTING_META) == {}
    assert service.get("Planning", "Actuals").jobs == (
        JobRef(server="planning", job_id="77"),
        JobRef(server="planning", job_id="1001"),
    )


def test_a_process_killed_before_the_post_blocks_new_starts_until_the_store_clock_expires_it(
    launcher_on: Launch, faulty: Callable[..., FaultyStore], epm: EpmSandbox, store_clock: FakeNow
) -> None:
    """Reservation written, no POST: a new process is refused until expiry, then starts it."""
    with pytest.raises(Killed):
        launcher_on(faulty(die_after=RESERVE)).run("Planning", "Actuals", by="slack:U1")
    assert epm.starts() == []

    restarted = launcher_on(faulty())
    with pytest.raises(JobRunningError, match="EPM has not answered"):
        restarted.run("Planning", "Actuals", by="slack:U2")
    assert epm.starts() == []
    store_clock.advance(minutes=11)  # the service's own clock stays at HOST_TIME
    assert restarted.run("Planning", "Actuals", by="slack:U2").job_id == "1001"
    assert len(epm.starts()) == 1


def test_a_process_killed_after_the_post_leaves_the_start_reserved(
    launcher_on: Launch, faulty: Callable[..., FaultyStore], epm: EpmSandbox
) -> None:
    """EPM started 1001 and the process died before recording it: a new process sends nothing."""
    with pytest.raises(Killed):
        launcher_on(faulty(die_before=RECORD)).run("Planning", "Actuals", by="slack:U1")
    assert len(epm.starts()) == 1

    restarted = launcher_on(faulty())
    with pytest.raises(JobRunningError, match="already running"):
        restarted.run("Planning", "Actuals", by="slack:U2")
    assert len(epm.starts()) == 1
    assert restarted.service.get("Planning", "Actuals").status is Status.PENDING


def test_a_process_killed_after_the_record_leaves_the_domain_tracking_the_job(
    launcher_on: Launch, faulty: Callable[..., FaultyStore], epm: EpmSandbox
) -> None:
    """The Loading commit is durable: a new process refuses the run as already running job 1001."""
    with pytest.raises(Killed):
        launcher_on(faulty(die_after=RECORD)).run("Planning", "Actuals", by="slack:U1")

    restarted = launcher_on(faulty())
    record = restarted.service.get("Planning", "Actuals")
    assert (record.status, record.jobs) == (Status.LOADING, (JobRef("planning", "1001"),))
    assert restarted.service.meta(STARTING_META) == {}
    with pytest.raises(JobRunningError, match="already running: job 1001"):
        restarted.run("Planning", "Actuals", by="slack:U2")
    assert len(epm.starts()) == 1


def _database_now(url: str) -> datetime:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0].astimezone(UTC).replace(microsecond=0)


def test_with_postgresql_reservation_times_come_from_the_database_clock(
    launcher_on: Launch, epm: EpmSandbox, pg_url: str
) -> None:
    """The reservation's time is the database's now(), and expiry is judged on it too.

    The service's clock says 2001; neither the stored time nor the expiry check uses it.
    """
    launcher = launcher_on(PostgresStore(pg_url))
    epm.drop_connections(HP_JOBS)  # the answer is lost: the reservation is kept
    before = _database_now(pg_url)
    with pytest.raises(JobStartError):
        launcher.run("Planning", "Actuals", by="slack:U1")
    after = _database_now(pg_url)
    held = launcher.service.meta(STARTING_META)["Planning/Actuals"]
    assert before <= parse_time(held["at"]) <= after

    service = launcher.service
    recent = {"by": "slack:U9", "at": (after - timedelta(minutes=9)).isoformat()}
    service.set_meta(STARTING_META, {"Planning/Actuals": recent})
    with pytest.raises(JobRunningError, match="slack:U9 started its job"):
        launcher.run("Planning", "Actuals", by="slack:U1")
    stale = {"by": "slack:U9", "at": (before - timedelta(minutes=11)).isoformat()}
    service.set_meta(STARTING_META, {"Planning/Actuals": stale})
    assert launcher.run("Planning", "Actuals", by="slack:U1").job_id == "1001"
