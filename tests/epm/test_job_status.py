"""Every status code and answer shape of every server kind maps as SPEC §6 and §16 say."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.epm.client import EpmClient
from bot.epm.mapping import JobResult, parse_job
from bot.errors import EpmError
from bot.model import Status
from bot.sandbox.epm import OUTCOMES, EpmSandbox, JobState
from tests.epm.conftest import server

RUNNING = None
EXPECTED: dict[str, Status | None] = {
    "running": RUNNING,
    "ok": Status.OK,
    "warning": Status.WARNING,
    "error": Status.ERROR,
    "cancel_pending": RUNNING,
    "cancelled": Status.WARNING,
    "invalid": Status.ERROR,
    "unknown": RUNNING,
}
# ARCS answers Oracle's migration status codes (SPEC §16): the sandbox sends -1 for
# cancel_pending and unknown, and a positive code, an Error, for cancelled. It sends
# neither descriptiveStatus nor jobStatus, so its "warning" is status 0: OK.
EXPECTED_ARCS = {**EXPECTED, "warning": Status.OK, "cancelled": Status.ERROR}
KINDS = ("planning", "fccs", "data_integration", "arcs")


def test_the_expectations_cover_every_sandbox_outcome() -> None:
    """No outcome of the sandbox is left untested."""
    assert set(EXPECTED) == set(OUTCOMES)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_each_outcome_of_each_kind_maps_to_the_specified_status(
    epm: EpmSandbox, make_client: Callable[..., EpmClient], kind: str, outcome: Any
) -> None:
    """The real client reads the sandbox's answer and maps it as the SPEC table says."""
    epm.add_job(kind, 7, outcome, details=f"{outcome} details")
    client = make_client(kind, server(epm, kind))
    result = client.job_status("7")
    expected = (EXPECTED_ARCS if kind == "arcs" else EXPECTED)[outcome]
    assert result.status is expected
    assert result.finished is (expected is not None)
    if outcome != "running":
        assert result.message == f"{outcome} details"


def test_data_integration_numbers_sent_as_strings_are_read_as_numbers(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """A "1" from Data Integration is an Error, and the raw code is kept as an int."""
    epm.add_job("data_integration", 8, "error")
    result = make_client("di", server(epm, "data_integration")).job_status("8")
    assert result == JobResult(Status.ERROR, "Job failed", 1)


def test_data_integration_job_status_decides_when_the_number_is_missing(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """Without a usable ``status``, jobStatus RUNNING/SUCCESS/WARNING/FAILED decides."""
    states = [
        JobState("running", extra={"status": None, "jobStatus": "RUNNING"}),
        JobState("ok", extra={"status": "", "jobStatus": "SUCCESS"}),
        JobState("ok", extra={"status": None, "jobStatus": "WARNING"}),
        JobState("ok", extra={"status": None, "jobStatus": "FAILED"}),
    ]
    epm.add_job("data_integration", 9, states)
    client = make_client("di", server(epm, "data_integration"))
    seen = [client.job_status("9").status for _ in states]
    assert seen == [None, Status.OK, Status.WARNING, Status.ERROR]


def test_details_become_the_message_trimmed_to_200_characters(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """A long ``details`` is cut to 200 characters, ending in an ellipsis."""
    epm.add_job("planning", 10, "error", details="x" * 500)
    result = make_client("p", server(epm)).job_status("10")
    assert len(result.message) == 200
    assert result.message.endswith("…")


def test_an_undocumented_code_keeps_the_job_running(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """A status number outside the table is treated like "unknown": poll again."""
    epm.add_job("planning", 11, [JobState("ok", extra={"status": 17})])
    assert make_client("p", server(epm)).job_status("11").status is None


def test_an_arcs_code_below_minus_one_keeps_the_job_running(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """Oracle documents no negative ARCS code but -1, so -2 is read as still in progress."""
    epm.add_job("arcs", 11, [JobState("running", extra={"status": -2})])
    assert make_client("a", server(epm, "arcs")).job_status("11").status is None


def test_an_arcs_failure_without_details_names_its_code(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """A positive ARCS code with empty details still gives the domain a message."""
    epm.add_job("arcs", 13, [JobState("error", "", {"status": 5})])
    result = make_client("a", server(epm, "arcs")).job_status("13")
    assert result == JobResult(Status.ERROR, "ARCS job failed with status 5", 5)


def test_parse_job_reads_planning_codes_unless_told_the_server_is_arcs() -> None:
    """The same body is a cancelled Planning job (Warning) and a failed ARCS job (Error)."""
    body = {"status": 3, "details": "Stopped by admin"}
    assert parse_job(body).status is Status.WARNING
    assert parse_job(body, "fccs").status is Status.WARNING
    assert parse_job(body, "arcs") == JobResult(Status.ERROR, "Stopped by admin", 3)


def test_a_body_without_any_status_is_a_permanent_error(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """An answer that carries no status cannot be mapped and says so."""
    epm.add_job("planning", 12, [JobState("ok", extra={"status": "done?"})])
    with pytest.raises(EpmError) as caught:
        make_client("p", server(epm)).job_status("12")
    assert caught.value.permanent


def test_an_unknown_job_is_a_permanent_404(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """A job EPM does not know is a permanent failure carrying EPM's own words."""
    with pytest.raises(EpmError) as caught:
        make_client("di", server(epm, "data_integration")).job_status("404")
    assert caught.value.permanent and caught.value.status_code == 404
    assert "does not exist" in str(caught.value)


@pytest.mark.parametrize("value", [[], "text", 3])
def test_a_non_object_body_is_refused(value: Any) -> None:
    """Only a JSON object is a job status."""
    with pytest.raises(EpmError):
        parse_job(value)


def test_job_ids_are_escaped_in_the_url(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """A job id cannot change the path it is sent to."""
    client = make_client("p", server(epm))
    assert client.job_url("../x").endswith("/applications/Vision/jobs/..%2Fx")
