"""The poller resolves tracked jobs in parallel, never sets Error on outages, spots stale loads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.config import Config
from bot.epm import JobResult
from bot.epm.client import EpmClient
from bot.epm.poller import UNREACHABLE_AFTER, Poller
from bot.epm.tracking import track
from bot.errors import StoreError
from bot.metrics import Metrics
from bot.model import JobRef, Status
from bot.sandbox.epm import EpmSandbox, RequestRecord, script
from bot.service import StatusService
from tests.conftest import DiskFullStore, FakeNow
from tests.epm.conftest import MakeEstate, server_doc

MakePoller = Callable[..., Poller]


@pytest.fixture
def make_poller(clock: FakeNow) -> Iterator[MakePoller]:
    """Build a poller over real clients (no back-off sleeps) for a config and service.

    ``metrics`` given as a keyword is shared by the clients and the poller; ``client_type``
    replaces EpmClient (fault injection).
    """
    pollers: list[Poller] = []

    def make(
        config: Config,
        service: StatusService,
        client_type: type[EpmClient] = EpmClient,
        **kwargs: Any,
    ) -> Poller:
        clients = {
            name: client_type(
                name,
                server,
                data_dir=config.settings.data_dir,
                pool_size=16,
                backoff_factor=0,
                metrics=kwargs.get("metrics"),
            )
            for name, server in config.estate.epm.servers.items()
        }
        kwargs.setdefault("max_workers", config.estate.epm.max_workers)
        kwargs.setdefault("max_loading_minutes", config.estate.staleness.max_loading_minutes)
        poller = Poller(service, clients, clock=clock, **kwargs)
        pollers.append(poller)
        return poller

    yield make
    for poller in pollers:
        poller.close()
        for client in poller.clients.values():
            client.close()


@pytest.fixture
def config(epm: EpmSandbox, make_estate: MakeEstate) -> Config:
    """Planning's domains default to the sandbox's planning server."""
    return make_estate({"planning": server_doc(epm)})


def test_a_finished_job_resolves_its_domain_and_clears_tracking(
    epm: EpmSandbox,
    config: Config,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
) -> None:
    """Loading while the job runs; then its result, its details, by ``epm:<server>``."""
    epm.add_job("planning", 42, script("ok", running=1), details="Cube refreshed")
    service = open_service(config)
    track(service, "Planning", "Actuals", "42", by="slack:U1")
    poller = make_poller(config, service)
    poller.run_cycle()
    assert service.get("Planning", "Actuals").status is Status.LOADING
    poller.run_cycle()
    record = service.get("Planning", "Actuals")
    assert (record.status, record.message, record.jobs) == (Status.OK, "Cube refreshed", ())
    assert record.updated_by == "epm:planning"
    assert service.history("Planning", "Actuals")[0].by == "epm:planning"
    poller.run_cycle()
    assert epm.job_polls("planning", 42) == 2  # nothing left to poll


def test_a_domain_waits_for_jobs_on_three_servers_and_takes_the_most_severe(
    three_epms: list[EpmSandbox],
    make_estate: MakeEstate,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
) -> None:
    """Loading until the last job ends; finished jobs are not polled again; Error wins."""
    planning, di, arcs = three_epms
    planning.add_job("planning", 1, "ok", details="Refreshed")
    di.add_job("data_integration", 2, script("error", running=1), details="Load failed: 3 rows")
    arcs.add_job("arcs", 3, script("warning", running=2))
    config = make_estate(
        {
            "planning": server_doc(planning),
            "di": server_doc(di, "data_integration"),
            "arcs": server_doc(arcs, "arcs"),
        }
    )
    service = open_service(config)
    for job_id, server in (("1", "planning"), ("2", "di"), ("3", "arcs")):
        track(service, "FCCS", "Consolidation", job_id, server, by="api:ci")
    poller = make_poller(config, service)
    statuses = []
    for _ in range(3):
        poller.run_cycle()
        statuses.append(service.get("FCCS", "Consolidation").status)
    assert statuses == [Status.LOADING, Status.LOADING, Status.ERROR]
    record = service.get("FCCS", "Consolidation")
    assert record.message == "di job 2: Load failed: 3 rows"
    assert record.updated_by == "epm:di" and record.jobs == ()
    assert [planning.job_polls("planning", 1), di.job_polls("data_integration", 2)] == [1, 2]


def test_outages_never_set_error_and_are_noted_after_repeated_failures(
    epm: EpmSandbox,
    config: Config,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
    clock: FakeNow,
) -> None:
    """503s keep the status; after a few failed polls the message says since when; then OK."""
    epm.add_job("planning", 42, "ok", details="Done")
    service = open_service(config)
    track(service, "Planning", "Actuals", "42", by="slack:U1")
    metrics = Metrics()
    poller = make_poller(config, service, metrics=metrics)
    epm.inject("/HyperionPlanning", 503, times=1000)
    for _ in range(UNREACHABLE_AFTER):
        assert service.get("Planning", "Actuals").message == "Tracking EPM job 42 on planning"
        poller.run_cycle()
        clock.advance(seconds=30)
    record = service.get("Planning", "Actuals")
    assert record.status is Status.LOADING and record.jobs
    assert record.message.startswith("EPM planning unreachable since 2025-03-31T08:00:00Z")
    assert "HTTP 503" in record.message
    poller.run_cycle()  # a further failure does not add history
    assert len(service.history("Planning", "Actuals")) == 2
    assert poller.failing() and "HTTP 503" in poller.failing()["planning"]
    errors = metrics.registry.get_sample_value(
        "epmpulse_epm_errors_total", {"server": "planning", "permanent": "false"}
    )
    assert errors == UNREACHABLE_AFTER + 1
    epm.clear_faults()
    poller.run_cycle()
    record = service.get("Planning", "Actuals")
    assert (record.status, record.message) == (Status.OK, "Done")
    assert all(h.new_status is not Status.ERROR for h in service.history("Planning", "Actuals"))


def test_a_recovered_server_restores_the_tracking_message(
    epm: EpmSandbox,
    config: Config,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
) -> None:
    """When polls succeed again on a still running job, the outage note goes away."""
    epm.add_job("planning", 42, "running")
    service = open_service(config)
    track(service, "Planning", "Actuals", "42", by="slack:U1")
    poller = make_poller(config, service)
    epm.drop_connections("/HyperionPlanning", times=2 * UNREACHABLE_AFTER)
    for _ in range(UNREACHABLE_AFTER):
        poller.run_cycle()
    assert "unreachable since" in service.get("Planning", "Actuals").message
    poller.run_cycle()
    assert service.get("Planning", "Actuals").message == "Tracking EPM job 42 on planning"
    assert not poller.failing()


def test_a_job_epm_does_not_know_resolves_as_error(
    epm: EpmSandbox,
    config: Config,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
) -> None:
    """A 404 is permanent: the job cannot finish, so the domain shows Error with EPM's words."""
    service = open_service(config)
    track(service, "Planning", "Budget", "999", by="slack:U1")
    make_poller(config, service).run_cycle()
    record = service.get("Planning", "Budget")
    assert record.status is Status.ERROR and record.jobs == ()
    assert "404" in record.message


def test_refused_credentials_never_set_error(
    epm: EpmSandbox,
    make_estate: MakeEstate,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
) -> None:
    """A configuration problem is not the job's failure: status kept, outage noted."""
    doc = server_doc(epm)
    doc["auth"]["password"] = "wrong-password"
    config = make_estate({"planning": doc})
    epm.add_job("planning", 42, "ok")
    service = open_service(config)
    track(service, "Planning", "Actuals", "42", by="slack:U1")
    poller = make_poller(config, service)
    for _ in range(UNREACHABLE_AFTER):
        poller.run_cycle()
    record = service.get("Planning", "Actuals")
    assert record.status is Status.LOADING
    assert "HTTP 401" in record.message


def test_a_manual_change_during_tracking_wins_over_a_late_job_result(
    epm: EpmSandbox,
    config: Config,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
) -> None:
    """Once a person sets the status, the job is no longer tracked and its result is ignored."""
    epm.add_job("planning", 42, script("error", running=1))
    service = open_service(config)
    track(service, "Planning", "Actuals", "42", by="slack:U1")
    poller = make_poller(config, service)
    poller.run_cycle()
    service.set("Planning", "Actuals", "OK", "done by hand", by="slack:U2")
    poller.run_cycle()
    record = service.get("Planning", "Actuals")
    assert (record.status, record.updated_by) == (Status.OK, "slack:U2")
    assert epm.job_polls("planning", 42) == 1


def overlap(records: list[RequestRecord]) -> int:
    """The most requests in flight at one moment across several sandboxes' logs."""
    events = sorted([(r.started, 1) for r in records] + [(r.ended, -1) for r in records])
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def test_jobs_are_polled_in_parallel_on_a_bounded_pool(
    three_epms: list[EpmSandbox],
    make_estate: MakeEstate,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
) -> None:
    """12 jobs with 300 ms latency on 8 workers: requests overlap, at most 8 at once."""
    kinds = ("planning", "data_integration", "arcs")
    servers = {}
    for index, (sandbox, kind) in enumerate(zip(three_epms, kinds, strict=True)):
        sandbox.set_latency(0.3)
        servers[f"s{index}"] = server_doc(sandbox, kind)
        for job in range(4):
            sandbox.add_job(kind, job, "running")
    config = make_estate(servers, max_workers=8)
    service = open_service(config)
    for index in range(3):
        for job in range(4):
            domain = ("Actuals", "Forecast", "Budget")[index]
            track(service, "Planning", domain, str(job), f"s{index}", by="api:ci")
    summary = make_poller(config, service).run_cycle()
    assert summary is not None and summary.jobs == 12 and summary.running == 12
    records = [r for sandbox in three_epms for r in sandbox.requests()]
    assert len(records) == 12
    assert 2 <= overlap(records) <= 8  # in parallel, never more than max_workers at once


def test_a_cycle_never_runs_alongside_another(
    epm: EpmSandbox,
    config: Config,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A second run_cycle while one is in progress returns at once without polling."""
    epm.add_job("planning", 1, "running")
    gate = epm.hold("/HyperionPlanning/")
    service = open_service(config)
    track(service, "Planning", "Actuals", "1", by="slack:U1")
    poller = make_poller(config, service)
    first = threading.Thread(target=poller.run_cycle)
    first.start()
    try:
        assert gate.arrived.wait(5), "the first cycle's poll never reached EPM"
        assert poller.run_cycle() is None
    finally:
        gate.release()
        first.join(5)
    assert not first.is_alive()
    assert epm.job_polls("planning", 1) == 1
    assert "previous cycle is still running" in caplog.text


def test_each_cycle_logs_one_summary_line(
    epm: EpmSandbox,
    config: Config,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One INFO line per cycle says how many jobs, how long and what happened."""
    caplog.set_level(logging.INFO, logger="bot.epm")
    epm.add_job("planning", 1, "ok")
    service = open_service(config)
    track(service, "Planning", "Actuals", "1", by="slack:U1")
    make_poller(config, service).run_cycle()
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.epm.poller"]
    assert len(lines) == 1
    assert lines[0].startswith("EPM poll: 1 job(s) in ")
    assert "1 finished, 0 running, 0 failed; 1 domain(s) resolved, 0 stale" in lines[0]


def test_a_domain_loading_too_long_without_a_job_becomes_a_stale_warning(
    epm: EpmSandbox,
    config: Config,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
    clock: FakeNow,
) -> None:
    """Loading by hand past max_loading_minutes turns Warning "stale"; tracked ones do not."""
    epm.add_job("planning", 1, "running")
    service = open_service(config)
    service.set("Planning", "Actuals", "Loading", by="slack:U1")
    track(service, "Planning", "Forecast", "1", by="slack:U1")
    poller = make_poller(config, service)
    clock.advance(minutes=120)
    poller.run_cycle()
    assert service.get("Planning", "Actuals").status is Status.LOADING
    clock.advance(minutes=1)
    poller.run_cycle()
    record = service.get("Planning", "Actuals")
    assert record.status is Status.WARNING and record.updated_by == "system"
    assert record.message.startswith("stale: Loading since 2025-03-31T08:00:00Z")
    assert service.get("Planning", "Forecast").status is Status.LOADING
    poller.run_cycle()
    assert len(service.history("Planning", "Actuals")) == 2  # warned once


def test_jobs_on_a_server_no_longer_configured_are_reported_not_failed(
    epm: EpmSandbox,
    config: Config,
    make_estate: MakeEstate,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
) -> None:
    """A job tracked on a server since removed from the config keeps its status, noted."""
    service = open_service(config)
    track(service, "Planning", "Actuals", "1", by="slack:U1")
    other = make_estate({"elsewhere": server_doc(epm)})
    service = open_service(other)
    poller = make_poller(other, service)
    for _ in range(UNREACHABLE_AFTER):
        poller.run_cycle()
    record = service.get("Planning", "Actuals")
    assert record.status is Status.LOADING
    assert record.jobs == (JobRef(server="planning", job_id="1"),)
    assert "not configured" in record.message


def test_a_job_that_trips_a_bug_fails_alone_and_is_logged(
    epm: EpmSandbox,
    config: Config,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected exception polling one job is logged and counts as its failure only."""

    class BuggyClient(EpmClient):
        """A client with a bug in reading job 41's answer."""

        def job_status(self, job_id: str) -> JobResult:
            result = super().job_status(job_id)
            if job_id == "41":
                raise KeyError("jobName")
            return result

    caplog.set_level(logging.ERROR, logger="bot.epm.poller")
    epm.add_job("planning", 41, "ok")
    epm.add_job("planning", 42, "ok", details="Cube refreshed")
    service = open_service(config)
    track(service, "Planning", "Actuals", "41", by="slack:U1")
    track(service, "Planning", "Forecast", "42", by="slack:U1")
    poller = make_poller(config, service, BuggyClient)
    summary = poller.run_cycle()
    assert summary is not None and (summary.failed, summary.resolved) == (1, 1)
    assert service.get("Planning", "Forecast").message == "Cube refreshed"
    assert service.get("Planning", "Actuals").status is Status.LOADING
    (logged,) = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert logged.exc_info is not None and isinstance(logged.exc_info[1], KeyError)
    for _ in range(UNREACHABLE_AFTER - 1):
        poller.run_cycle()
    assert "could not be polled (KeyError)" in service.get("Planning", "Actuals").message


def test_closing_does_not_wait_for_polls_in_flight(
    epm: EpmSandbox,
    config: Config,
    open_service: Callable[[Config], StatusService],
    make_poller: MakePoller,
) -> None:
    """close() returns at once and cancels queued polls; the running cycle still ends."""
    service = open_service(config)
    for job, domain in enumerate(["Actuals", "Forecast", "Budget"], start=1):
        epm.add_job("planning", job, "ok")
        track(service, "Planning", domain, str(job), by="slack:U1")
    poller = make_poller(config, service, max_workers=1)
    gate = epm.hold("/HyperionPlanning/")
    summaries: list[Any] = []
    cycle = threading.Thread(target=lambda: summaries.append(poller.run_cycle()))
    cycle.start()
    try:
        assert gate.arrived.wait(5), "the first poll never reached EPM"
        poller.close()
        assert epm.in_flight() == 1  # close() returned while that poll was still held
    finally:
        gate.release()
    cycle.join(5)
    assert not cycle.is_alive()
    assert summaries[0].jobs == 1  # the two queued polls were cancelled


def test_a_cycle_whose_commit_fails_keeps_its_results_for_the_next_one(
    epm: EpmSandbox,
    config: Config,
    clock: FakeNow,
    make_poller: MakePoller,
) -> None:
    """A failed commit changes nothing in the poller: the next cycle resolves without re-polling."""
    epm.add_job("planning", 42, "ok", details="Cube refreshed")
    store = DiskFullStore(config.settings.data_dir)
    try:
        service = StatusService(config.estate.layout, store, clock=clock)
        track(service, "Planning", "Actuals", "42", by="slack:U1")
        poller = make_poller(config, service)
        store.full = True
        with pytest.raises(StoreError):
            poller.run_cycle()
        assert service.get("Planning", "Actuals").status is Status.LOADING
        store.full = False
        poller.run_cycle()
        record = service.get("Planning", "Actuals")
        assert (record.status, record.message, record.jobs) == (Status.OK, "Cube refreshed", ())
        assert epm.job_polls("planning", 42) == 1  # the result was remembered, not lost
    finally:
        store.close()
