"""Starting EPM jobs with the real client against the sandbox: payloads, period tokens, one POST."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from bot.epm.client import EpmClient
from bot.epm.launch import job_parameters
from bot.epm.start_request import started_job_id
from bot.errors import JobStartError
from bot.estate import EpmServer, JobSpec
from bot.sandbox.epm import EpmSandbox
from tests.epm.conftest import server_doc, start_posts

HP_JOBS = "/HyperionPlanning/rest/v3/applications/Vision/jobs"
DI_JOBS = "/aif/rest/V1/jobs"
PARAMETERS = {"Scenario": "Actual", "Period": "Oct-26", "Years": 2}

MakeClient = Callable[..., EpmClient]


def client_for(
    make_client: MakeClient,
    epm: EpmSandbox,
    kind: str = "planning",
    auth: str = "basic",
    **extra: Any,
) -> EpmClient:
    """A real client for a ``kind`` server on the sandbox."""
    return make_client("epm1", EpmServer.model_validate(server_doc(epm, kind, auth, **extra)))


@pytest.mark.parametrize("auth", ["basic", "oauth_refresh_token", "oauth_client_credentials"])
@pytest.mark.parametrize("kind", ["planning", "fccs"])
def test_a_planning_start_posts_type_name_and_nested_parameters(
    epm: EpmSandbox, make_client: MakeClient, kind: str, auth: str
) -> None:
    """Planning and FCCS: POST …/applications/{app}/jobs with parameters in their own object."""
    client = client_for(make_client, epm, kind, auth)
    job_id = client.start_job("RULES", "Aggregate Actuals", PARAMETERS)
    (start,) = epm.starts()
    assert job_id == "1001" == start.job_id
    assert (start.family, start.app, start.status) == ("hyperion", "Vision", 201)
    assert start.body == {
        "jobType": "RULES",
        "jobName": "Aggregate Actuals",
        "parameters": PARAMETERS,
    }
    (post,) = [r for r in epm.requests(HP_JOBS) if r.method == "POST"]
    assert post.auth == ("basic" if auth == "basic" else "bearer")


@pytest.mark.parametrize("auth", ["basic", "oauth_refresh_token", "oauth_client_credentials"])
def test_a_data_integration_start_puts_parameters_beside_the_name(
    epm: EpmSandbox, make_client: MakeClient, auth: str
) -> None:
    """Data Integration: POST /aif/rest/V1/jobs flat; its string job id is taken as is."""
    client = client_for(make_client, epm, "data_integration", auth)
    job_id = client.start_job("INTEGRATION", "GLDATA", {"periodName": "{Oct-26}"})
    (start,) = epm.starts()
    assert job_id == "1001"
    assert (start.family, start.status) == ("data_integration", 200)
    assert start.body == {"jobType": "INTEGRATION", "jobName": "GLDATA", "periodName": "{Oct-26}"}
    (post,) = [r for r in epm.requests(DI_JOBS) if r.method == "POST"]
    assert post.auth == ("basic" if auth == "basic" else "bearer")


def test_a_started_job_is_polled_on_its_own_status_url(
    epm: EpmSandbox, make_client: MakeClient
) -> None:
    """The id a start returns is the id the status endpoint knows, with its script."""
    epm.script_start("Aggregate Actuals", ["running", "error"], details="Rule failed")
    client = client_for(make_client, epm)
    job_id = client.start_job("RULES", "Aggregate Actuals", {})
    assert client.job_status(job_id).finished is False
    result = client.job_status(job_id)
    assert (result.status, result.message) == ("Error", "Rule failed")


def test_every_start_opens_a_connection_of_its_own(
    epm: EpmSandbox, make_client: MakeClient
) -> None:
    """Starts never reuse a pooled connection the server may have closed meanwhile."""
    client = client_for(make_client, epm)
    before = epm.connections_opened()
    job_ids = [client.start_job("RULES", f"Job {n}", {}) for n in range(20)]
    assert job_ids == [str(1001 + n) for n in range(20)]
    assert epm.connections_opened() - before == 20


def test_a_refused_start_carries_epms_own_message_and_is_sent_once(
    epm: EpmSandbox, make_client: MakeClient
) -> None:
    """A 400 from EPM: not started, EPM's detail in the error, exactly one POST."""
    epm.refuse_start("Aggregate Actuals", 400, "Job Aggregate Actuals does not exist.")
    client = client_for(make_client, epm)
    with pytest.raises(JobStartError) as caught:
        client.start_job("RULES", "Aggregate Actuals", {})
    assert caught.value.maybe_started is False
    assert caught.value.status_code == 400
    assert "refused to start Aggregate Actuals (HTTP 400)" in str(caught.value)
    assert "Job Aggregate Actuals does not exist." in str(caught.value)
    assert start_posts(epm) == [HP_JOBS]


def test_a_503_on_the_start_is_not_retried(epm: EpmSandbox, make_client: MakeClient) -> None:
    """Unlike a poll, a start answered 503 is reported at once: one POST, not started."""
    epm.inject(HP_JOBS, 503, times=3)
    client = client_for(make_client, epm)
    with pytest.raises(JobStartError) as caught:
        client.start_job("RULES", "Aggregate Actuals", {})
    assert caught.value.maybe_started is False
    assert "failed to start Aggregate Actuals (HTTP 503): Service Unavailable" in str(caught.value)
    assert start_posts(epm) == [HP_JOBS]
    assert epm.starts() == []


def test_a_start_whose_answer_times_out_may_have_started(
    epm: EpmSandbox, make_client: MakeClient
) -> None:
    """A read timeout after sending: one POST, reported as "may have started; check EPM"."""
    epm.set_latency(1.0, HP_JOBS)
    client = client_for(make_client, epm, timeout_seconds=0.3)
    with pytest.raises(JobStartError) as caught:
        client.start_job("RULES", "Aggregate Actuals", {})
    assert caught.value.maybe_started is True
    assert "may have started; check the EPM job console" in str(caught.value)
    assert start_posts(epm) == [HP_JOBS]
    assert len(epm.starts()) == 1  # EPM did start it: exactly why nothing is resent


def test_a_start_whose_connection_is_reset_may_have_started(
    epm: EpmSandbox, make_client: MakeClient
) -> None:
    """The connection dropped without an answer: one POST, "may have started"."""
    epm.drop_connections(DI_JOBS)
    client = client_for(make_client, epm, "data_integration")
    with pytest.raises(JobStartError) as caught:
        client.start_job("INTEGRATION", "GLDATA", {})
    assert caught.value.maybe_started is True
    assert "did not answer the start of GLDATA" in str(caught.value)
    assert start_posts(epm) == [DI_JOBS]


def test_a_gateway_504_may_have_started(epm: EpmSandbox, make_client: MakeClient) -> None:
    """A 502/504 from a gateway may follow a start the service accepted."""
    epm.inject(HP_JOBS, 504)
    client = client_for(make_client, epm)
    with pytest.raises(JobStartError) as caught:
        client.start_job("RULES", "Aggregate Actuals", {})
    assert caught.value.maybe_started is True
    assert start_posts(epm) == [HP_JOBS]


def test_an_unreachable_server_did_not_start_anything(make_client: MakeClient) -> None:
    """Connection refused: the request never left, so the job surely did not start."""
    with EpmSandbox() as gone:
        doc = server_doc(gone)
    client = make_client("epm1", EpmServer.model_validate(doc))
    with pytest.raises(JobStartError) as caught:
        client.start_job("RULES", "Aggregate Actuals", {})
    assert caught.value.maybe_started is False
    assert "unreachable" in str(caught.value)


def test_an_expired_token_is_refreshed_and_the_start_sent_again_once(
    epm: EpmSandbox, make_client: MakeClient
) -> None:
    """A 401 comes before EPM reads the body: one refresh, one more POST, one start."""
    client = client_for(make_client, epm, auth="oauth_client_credentials")
    client.start_job("RULES", "First", {})
    epm.expire_access_tokens()
    assert client.start_job("RULES", "Second", {}) == "1002"
    assert [r.status for r in epm.requests(HP_JOBS) if r.method == "POST"] == [201, 401, 201]
    assert [s.body["jobName"] for s in epm.starts()] == ["First", "Second"]


def test_refused_basic_credentials_are_not_sent_again(
    epm: EpmSandbox, make_client: MakeClient
) -> None:
    """A 401 on Basic credentials cannot be fixed by retrying: one POST, EPM's message."""
    doc = server_doc(epm)
    doc["auth"]["password"] = "wrong"
    client = make_client("epm1", EpmServer.model_validate(doc))
    with pytest.raises(JobStartError) as caught:
        client.start_job("RULES", "Aggregate Actuals", {})
    assert "(HTTP 401): Authentication failed." in str(caught.value)
    assert start_posts(epm) == [HP_JOBS]


def _answer(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    return response


def test_a_success_without_a_job_id_may_have_started() -> None:
    """A 2xx naming no job id: EPM took the request, so the caller must check EPM."""
    with pytest.raises(JobStartError) as caught:
        started_job_id("epm1", "GLDATA", _answer(200, b'{"status": -1}'))
    assert caught.value.maybe_started is True


def test_a_success_with_a_failed_status_and_no_job_is_a_refusal() -> None:
    """Status 1 with details and no job id: EPM refused the job, nothing runs."""
    with pytest.raises(JobStartError) as caught:
        started_job_id("epm1", "GLDATA", _answer(200, b'{"status": 1, "details": "No rule"}'))
    assert caught.value.maybe_started is False
    assert "refused to start GLDATA: No rule" in str(caught.value)


@pytest.mark.parametrize("job_id", [4711, "4711", " 4711 "])
def test_a_job_id_may_be_a_number_or_a_string(job_id: Any) -> None:
    """200 or 201 with a numeric or string jobId is a start with that id."""
    import json

    body = json.dumps({"jobId": job_id}).encode()
    assert started_job_id("epm1", "X", _answer(201, body)) == "4711"


def _spec(**parameters: Any) -> JobSpec:
    return JobSpec(type="RULES", name="Aggregate Actuals", parameters=parameters)


def test_format_tokens_give_the_close_periods_month_and_year_as_planning_members() -> None:
    """${PERIOD:%b} is Oct and FY${PERIOD:%y} is FY26 for the close of 2026-10."""
    spec = _spec(Period="${PERIOD:%b}", Years="FY${PERIOD:%y}", Label="${PERIOD:%B %Y}")
    assert job_parameters(spec, "2026-10") == {
        "Period": "Oct",
        "Years": "FY26",
        "Label": "October 2026",
    }


def test_the_plain_token_still_gives_epms_mmm_yy_name_beside_format_tokens() -> None:
    """$PERIOD stays Oct-26, also next to a format token; other values are left alone."""
    spec = _spec(periodName="{$PERIOD}", Both="$PERIOD/${PERIOD:%m}", Count=2, On=True)
    assert job_parameters(spec, "2026-10") == {
        "periodName": "{Oct-26}",
        "Both": "Oct-26/10",
        "Count": 2,
        "On": True,
    }


def test_format_tokens_cross_the_year_end_with_two_digit_years() -> None:
    """January 2030 gives Jan and FY30; %% is a percent sign."""
    spec = _spec(Period="${PERIOD:%b}", Years="FY${PERIOD:%y}", Share="${PERIOD:%m%%}")
    assert job_parameters(spec, "2030-01") == {"Period": "Jan", "Years": "FY30", "Share": "01%"}


def test_a_start_with_a_job_type_in_the_wrong_case_is_refused_by_epm_once(
    epm: EpmSandbox, make_client: MakeClient
) -> None:
    """The sandbox refuses jobType "rules" as EPM does; the client reports it, one POST."""
    client = client_for(make_client, epm)
    with pytest.raises(JobStartError) as caught:
        client.start_job("rules", "Aggregate Actuals", {})
    assert caught.value.maybe_started is False
    assert "(HTTP 400): Invalid job type: rules." in str(caught.value)
    assert start_posts(epm) == [HP_JOBS]
    assert [s.job_id for s in epm.starts()] == [None]


def test_a_data_integration_start_with_a_period_outside_braces_is_refused(
    epm: EpmSandbox, make_client: MakeClient
) -> None:
    """periodName Oct-26 without braces: refused by the sandbox, nothing started."""
    client = client_for(make_client, epm, "data_integration")
    with pytest.raises(JobStartError) as caught:
        client.start_job("INTEGRATION", "GLDATA", {"periodName": "Oct-26"})
    assert caught.value.maybe_started is False
    assert "Invalid periodName Oct-26: enclose period names in braces" in str(caught.value)
    assert start_posts(epm) == [DI_JOBS]
