"""ARCS job status follows Oracle's migration status codes, read by the real poller (SPEC §16).

Oracle: 0 success, -1 in progress, any positive code failed
(docs/oracle/arcs-job-status.md). Planning keeps its own codes (SPEC §6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bot.config import Config
from bot.epm.client import EpmClient
from bot.epm.poller import Poller
from bot.epm.tracking import track
from bot.model import DomainRecord, Status
from bot.sandbox.epm import EpmSandbox, JobState
from bot.service import StatusService
from tests.conftest import FakeNow
from tests.epm.conftest import MakeEstate, server_doc

APPS = {
    "ARCS": {"domains": ["Reconciliation"], "server": "arcs"},
    "Planning": {"domains": ["Actuals"], "server": "planning"},
}


@pytest.fixture
def config(epm: EpmSandbox, make_estate: MakeEstate) -> Config:
    """ARCS/Reconciliation polls the sandbox as an arcs server, Planning/Actuals as planning."""
    return make_estate(
        {"arcs": server_doc(epm, "arcs"), "planning": server_doc(epm)},
        APPS,
    )


@pytest.fixture
def service(config: Config, open_service: Callable[[Config], StatusService]) -> StatusService:
    """The status service of the estate."""
    return open_service(config)


@pytest.fixture
def poller(config: Config, service: StatusService, clock: FakeNow) -> Iterator[Poller]:
    """The real poller over real clients (no back-off sleeps) of every configured server."""
    clients = {
        name: EpmClient(name, server, data_dir=config.settings.data_dir, backoff_factor=0)
        for name, server in config.estate.epm.servers.items()
    }
    poller = Poller(service, clients, clock=clock)
    yield poller
    poller.close()
    for client in clients.values():
        client.close()


def reconciliation(service: StatusService) -> DomainRecord:
    """The current record of ARCS/Reconciliation."""
    return service.get("ARCS", "Reconciliation")


@pytest.mark.parametrize("code", [2, 3, 5, 2147483647])
def test_an_arcs_job_with_a_positive_status_turns_the_domain_error_with_epm_details(
    epm: EpmSandbox, service: StatusService, poller: Poller, code: int
) -> None:
    """Any positive ARCS code is a failure: Error, EPM's details as the message, jobs cleared."""
    details = f"Import failed: {code} balances rejected"
    epm.add_job("arcs", 91, [JobState("error", details, {"status": code})])
    track(service, "ARCS", "Reconciliation", "91", by="api:ci")
    poller.run_cycle()
    record = reconciliation(service)
    assert (record.status, record.message, record.jobs) == (Status.ERROR, details, ())
    assert record.updated_by == "epm:arcs"


def test_an_arcs_failure_message_is_trimmed_like_any_other(
    epm: EpmSandbox, service: StatusService, poller: Poller
) -> None:
    """Long multi-line ARCS details become one line of at most 200 characters."""
    details = "Total to copy : 3\nSuccessfully copied : 2\nUnsuccessfully copied : 1\n" + "x" * 300
    epm.add_job("arcs", 92, [JobState("error", details, {"status": 5})])
    track(service, "ARCS", "Reconciliation", "92", by="api:ci")
    poller.run_cycle()
    record = reconciliation(service)
    assert record.status is Status.ERROR
    assert record.message.startswith("Total to copy : 3 Successfully copied : 2 Unsuccessfully")
    assert len(record.message) == 200 and record.message.endswith("…")


def test_an_arcs_job_answering_minus_one_keeps_loading_until_a_positive_code_ends_it(
    epm: EpmSandbox, service: StatusService, poller: Poller
) -> None:
    """-1 is in progress (Loading, polled again); the following 2 is a failure, not a cancel."""
    epm.add_job(
        "arcs",
        93,
        ["running", "running", JobState("error", "Period is locked", {"status": 2})],
    )
    track(service, "ARCS", "Reconciliation", "93", by="api:ci")
    statuses = []
    for _ in range(3):
        poller.run_cycle()
        statuses.append(reconciliation(service).status)
    assert statuses == [Status.LOADING, Status.LOADING, Status.ERROR]
    assert reconciliation(service).message == "Period is locked"
    assert epm.job_polls("arcs", 93) == 3


def test_an_arcs_job_that_ends_with_zero_is_ok_with_its_details(
    epm: EpmSandbox, service: StatusService, poller: Poller
) -> None:
    """0 is success: OK with EPM's details, even when they count unsuccessful copies."""
    details = "Total to copy : 3\nSuccessfully copied : 2\nUnsuccessfully copied : 1\n"
    epm.add_job("arcs", 94, ["running", JobState("ok", details)])
    track(service, "ARCS", "Reconciliation", "94", by="api:ci")
    poller.run_cycle()
    poller.run_cycle()
    record = reconciliation(service)
    assert (record.status, record.jobs) == (Status.OK, ())
    assert record.message == "Total to copy : 3 Successfully copied : 2 Unsuccessfully copied : 1"


def test_status_3_stays_warning_for_planning_while_it_is_error_for_arcs(
    epm: EpmSandbox, service: StatusService, poller: Poller
) -> None:
    """Planning keeps its codes (3 is "cancelled", a Warning); ARCS 3 in the same cycle fails."""
    epm.add_job("planning", 95, ["cancelled"], details="Cancelled by admin")
    epm.add_job("arcs", 95, [JobState("cancelled", "Cancelled by admin", {"status": 3})])
    track(service, "Planning", "Actuals", "95", by="api:ci")
    track(service, "ARCS", "Reconciliation", "95", by="api:ci")
    poller.run_cycle()
    planning = service.get("Planning", "Actuals")
    assert (planning.status, planning.message) == (Status.WARNING, "Cancelled by admin")
    assert reconciliation(service).status is Status.ERROR
