"""Launching a domain's EPM job: $PERIOD, one commit to Loading, refusals that never call EPM."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from bot.epm.client import EpmClient
from bot.epm.launch import (
    STARTING_META,
    JobLauncher,
    JobNotRecordedError,
    job_parameters,
    job_period,
)
from bot.epm.poller import Poller
from bot.errors import (
    JobRunningError,
    JobStartError,
    NoJobError,
    StoreError,
    UnknownNameError,
)
from bot.model import JobRef, Status
from bot.sandbox.epm import EpmSandbox
from bot.service import StatusService
from bot.store import JsonStore
from tests.conftest import FakeNow
from tests.epm.conftest import MakeEstate, server_doc, start_posts

HP_JOBS = "/HyperionPlanning/rest/v3/applications/Vision/jobs"
DI_JOBS = "/aif/rest/V1/jobs"
JOBS = {
    "Actuals": {"type": "RULES", "name": "Aggregate Actuals", "parameters": {"Period": "$PERIOD"}}
}


@pytest.fixture
def estate(make_estate: MakeEstate, epm: EpmSandbox) -> Config:
    """Planning (server planning, a job for Actuals) and Data (data_integration, GL)."""
    return make_estate(
        {
            "planning": server_doc(epm, timeout_seconds=0.5),
            "di": server_doc(epm, "data_integration"),
        },
        {
            "Planning": {"domains": ["Actuals", "Forecast"], "server": "planning", "jobs": JOBS},
            "Data": {
                "domains": ["GL", "AP"],
                "server": "di",
                "jobs": {
                    "GL": {
                        "type": "INTEGRATION",
                        "name": "GLDATA",
                        "parameters": {"periodName": "{$PERIOD}", "importMode": "Replace"},
                    }
                },
            },
            "FCCS": {"domains": ["Close"]},
        },
    )


class ClockedStore(JsonStore):
    """A JSON store whose own clock (:meth:`Store.now`, job start reservations) is ``clock``."""

    def __init__(self, data_dir: Path, clock: Callable[[], datetime]) -> None:
        super().__init__(data_dir)
        self.clock = clock

    def now(self) -> datetime:
        """The injected time."""
        return self.clock()


@pytest.fixture
def launch(
    estate: Config, clock: FakeNow, make_client: Callable[..., EpmClient]
) -> Iterator[tuple[JobLauncher, Poller]]:
    """A launcher and a poller sharing real clients; the store and the service share ``clock``."""
    store = ClockedStore(estate.settings.data_dir, clock)
    service = StatusService(estate.estate.layout, store, clock=clock)
    clients = {n: make_client(n, s) for n, s in estate.estate.epm.servers.items()}
    poller = Poller(service, clients)
    yield JobLauncher(service, clients, estate=estate.estate), poller
    poller.close()
    store.close()


def test_period_is_the_month_before_the_local_month_of_the_canvas_timezone(
    make_config: Callable[..., Config],
) -> None:
    """Late on 30 Nov UTC it is already December in Auckland: the close of November."""
    instant = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    utc = make_config("canvas: {timezone: UTC}").estate
    auckland = make_config("canvas: {timezone: Pacific/Auckland}").estate
    assert job_period(utc, instant) == "2026-10"
    assert job_period(auckland, instant) == "2026-11"


def test_period_placeholders_become_epms_month_name_in_text_values_only(
    estate: Config,
) -> None:
    """ "{$PERIOD}" -> "{Oct-26}"; numbers and other text stay as configured."""
    spec = estate.estate.apps["Data"].jobs["GL"]
    assert job_parameters(spec, "2026-10") == {"periodName": "{Oct-26}", "importMode": "Replace"}


def test_run_starts_the_job_once_and_sets_loading_in_one_commit(
    launch: tuple[JobLauncher, Poller], epm: EpmSandbox, clock: FakeNow
) -> None:
    """The domain is Loading, "Started <name> (job <id>)", by the caller, tracking the job."""
    launcher, _ = launch
    version = launcher.service.version
    launched = launcher.run("planning", "actuals", by="slack:U1")
    record = launcher.service.get("Planning", "Actuals")
    assert (launched.app, launched.domain, launched.server, launched.job_id) == (
        "Planning",
        "Actuals",
        "planning",
        "1001",
    )
    assert record.status is Status.LOADING
    assert record.message == "Started Aggregate Actuals (job 1001)"
    assert record.updated_by == "slack:U1"
    assert record.jobs == (JobRef(server="planning", job_id="1001"),)
    # The clock says 31 March 2025: the close of February.
    assert epm.starts()[0].body["parameters"] == {"Period": "Feb-25"}
    history = launcher.service.history("Planning", "Actuals")
    assert [(h.old_status, h.new_status) for h in history] == [(Status.PENDING, Status.LOADING)]
    assert launcher.service.meta(STARTING_META) == {}
    assert launcher.service.version == version + 2  # the reservation, then the one change


@pytest.mark.parametrize(
    ("outcome", "status", "message"),
    [("ok", Status.OK, "Aggregated"), ("error", Status.ERROR, "Rule AGG failed at line 3")],
)
def test_the_poller_resolves_a_started_job(
    launch: tuple[JobLauncher, Poller],
    epm: EpmSandbox,
    outcome: Any,
    status: Status,
    message: str,
) -> None:
    """A started job is followed like any tracked job: Loading, then OK or Error with details."""
    launcher, poller = launch
    epm.script_start("GLDATA", ["running", outcome], details=message)
    launcher.run("Data", "GL", by="api:ci")
    poller.run_cycle()
    assert launcher.service.get("Data", "GL").status is Status.LOADING
    poller.run_cycle()
    record = launcher.service.get("Data", "GL")
    assert (record.status, record.message, record.jobs) == (status, message, ())
    assert epm.starts()[0].body["periodName"] == "{Feb-25}"


def test_a_domain_without_a_job_is_refused_naming_those_with_one(
    launch: tuple[JobLauncher, Poller], epm: EpmSandbox
) -> None:
    """No job configured: the error names the app's domains that have one; no POST."""
    launcher, _ = launch
    with pytest.raises(NoJobError) as caught:
        launcher.run("Planning", "Forecast", by="api:ci")
    assert str(caught.value) == (
        "Planning / Forecast has no EPM job to run. Domains of Planning with one: Actuals."
    )
    with pytest.raises(NoJobError, match="Domains with one: Planning / Actuals, Data / GL"):
        launcher.run("FCCS", "Close", by="api:ci")
    with pytest.raises(UnknownNameError):
        launcher.run("Planning", "Actualz", by="api:ci")
    assert len(start_posts(epm)) == 0


def test_a_domain_still_tracking_a_job_is_refused_without_calling_epm(
    launch: tuple[JobLauncher, Poller], epm: EpmSandbox
) -> None:
    """An unfinished tracked job: "already running: job N", nothing sent, nothing changed."""
    launcher, _ = launch
    launcher.run("Planning", "Actuals", by="slack:U1")
    version = launcher.service.version
    with pytest.raises(JobRunningError, match=r"already running: job 1001"):
        launcher.run("Planning", "Actuals", by="slack:U2")
    assert len(start_posts(epm)) == 1
    assert launcher.service.version == version


def test_a_start_under_way_elsewhere_is_refused_until_its_reservation_expires(
    launch: tuple[JobLauncher, Poller], epm: EpmSandbox, clock: FakeNow
) -> None:
    """Another caller's reservation blocks a second start; a stale one (a crash) does not."""
    launcher, _ = launch
    held = {"Planning/Actuals": {"by": "slack:U9", "at": "2025-03-31T07:59:00Z"}}
    launcher.service.set_meta(STARTING_META, held)
    with pytest.raises(JobRunningError, match="slack:U9 started its job at 2025-03-31T07:59:00Z"):
        launcher.run("Planning", "Actuals", by="slack:U1")
    assert len(start_posts(epm)) == 0
    clock.advance(minutes=11)
    assert launcher.run("Planning", "Actuals", by="slack:U1").job_id == "1001"


def test_epm_refusing_leaves_the_status_and_reports_epms_message(
    launch: tuple[JobLauncher, Poller], epm: EpmSandbox
) -> None:
    """A 4xx: JobStartError with EPM's detail, status unchanged, reservation released."""
    launcher, _ = launch
    launcher.service.set("Planning", "Actuals", "Warning", "late feed", by="api:ci")
    epm.refuse_start("Aggregate Actuals", 400, "Rule Aggregate Actuals does not exist.")
    with pytest.raises(JobStartError, match=r"Rule Aggregate Actuals does not exist\."):
        launcher.run("Planning", "Actuals", by="slack:U1")
    record = launcher.service.get("Planning", "Actuals")
    assert (record.status, record.message) == (Status.WARNING, "late feed")
    assert launcher.service.meta(STARTING_META) == {}
    assert len(start_posts(epm)) == 1


@pytest.mark.parametrize("failure", ["503", "timeout", "reset"])
def test_a_failed_or_lost_start_sends_one_post_and_changes_nothing(
    launch: tuple[JobLauncher, Poller], epm: EpmSandbox, failure: str
) -> None:
    """503, timeout and connection reset: exactly one POST each, status still Pending.

    After a lost answer (timeout, reset) the reservation stays until it expires.
    """
    launcher, _ = launch
    if failure == "503":
        epm.inject(HP_JOBS, 503)
    elif failure == "timeout":
        epm.set_latency(1.0, HP_JOBS)
    else:
        epm.drop_connections(HP_JOBS)
    with pytest.raises(JobStartError) as caught:
        launcher.run("Planning", "Actuals", by="slack:U1")
    maybe_started = failure != "503"
    assert caught.value.maybe_started is maybe_started
    assert len(start_posts(epm)) == 1
    record = launcher.service.get("Planning", "Actuals")
    assert (record.status, record.jobs) == (Status.PENDING, ())
    # A start that may have gone through stays reserved: a second click sends nothing.
    reserved = launcher.service.meta(STARTING_META)
    assert bool(reserved) is maybe_started
    if maybe_started:
        with pytest.raises(JobRunningError):
            launcher.run("Planning", "Actuals", by="slack:U2")
        assert len(start_posts(epm)) == 1


class FlakyStore(JsonStore):
    """A JSON store whose commits fail from the ``fail_from``-th one on (1-based)."""

    def __init__(self, data_dir: Path, fail_from: int) -> None:
        super().__init__(data_dir)
        self.commits = 0
        self.fail_from = fail_from

    def commit(self, mutation: Any) -> Any:
        """Fail like a full disk once ``fail_from`` commits were attempted."""
        self.commits += 1
        if self.commits >= self.fail_from:
            raise StoreError("disk full")
        return super().commit(mutation)


def test_a_started_job_that_cannot_be_saved_is_named_with_how_to_track_it(
    estate: Config, epm: EpmSandbox, make_client: Callable[..., EpmClient], clock: FakeNow
) -> None:
    """EPM started it but the commit failed: the error names the job and the track command.

    The reservation stays (nothing could be written to it here), so a second click sends
    nothing.
    """
    store = FlakyStore(estate.settings.data_dir, fail_from=2)
    try:
        service = StatusService(estate.estate.layout, store, clock=clock)
        clients = {n: make_client(n, s) for n, s in estate.estate.epm.servers.items()}
        with pytest.raises(JobNotRecordedError) as caught:
            JobLauncher(service, clients, estate=estate.estate).run(
                "Planning", "Actuals", by="slack:U1"
            )
        assert "EPM started Aggregate Actuals as job 1001" in str(caught.value)
        assert "`/epmpulse track Planning Actuals 1001`" in str(caught.value)
        assert len(start_posts(epm)) == 1
        assert service.get("Planning", "Actuals").status is Status.PENDING
        assert "Planning/Actuals" in service.meta(STARTING_META)
        store.fail_from = 1_000  # the disk has room again
        with pytest.raises(JobRunningError, match="already running"):
            JobLauncher(service, clients, estate=estate.estate).run(
                "Planning", "Actuals", by="slack:U2"
            )
        assert len(start_posts(epm)) == 1
    finally:
        store.close()
