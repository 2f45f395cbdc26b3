"""The EPM sandbox accepts job starts on both families, scripted, recorded, or refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from bot.sandbox.epm import EpmSandbox

HP_JOBS = "/HyperionPlanning/rest/v3/applications/Vision/jobs"
DI_JOBS = "/aif/rest/V1/jobs"


@pytest.fixture
def epm() -> Iterator[EpmSandbox]:
    """A started sandbox."""
    with EpmSandbox(username="svc", password="pw") as sandbox:
        yield sandbox


@pytest.fixture
def http(epm: EpmSandbox) -> Iterator[requests.Session]:
    """A session with the sandbox's Basic credentials."""
    with requests.Session() as session:
        session.trust_env = False
        session.auth = (epm.username, epm.password)
        yield session


def test_a_planning_start_answers_201_with_a_numeric_job_that_can_be_polled(
    epm: EpmSandbox, http: requests.Session
) -> None:
    """The answer names the job; polling it follows the default script (running, then ok)."""
    body = {"jobType": "RULES", "jobName": "Agg", "parameters": {"Scenario": "Actual"}}
    answer = http.post(epm.base_url + HP_JOBS, json=body, timeout=5)
    assert answer.status_code == 201
    assert answer.json()["jobId"] == 1001
    assert answer.json()["status"] == -1
    (start,) = epm.starts()
    assert (start.family, start.app, start.body, start.job_id) == (
        "hyperion",
        "Vision",
        body,
        "1001",
    )
    statuses = [http.get(epm.job_url("planning", 1001), timeout=5).json()["status"] for _ in "ab"]
    assert statuses == [-1, 0]


def test_a_data_integration_start_answers_with_numbers_as_strings(
    epm: EpmSandbox, http: requests.Session
) -> None:
    """Data Integration answers 200, jobId and status as strings, and polls by that id."""
    epm.script_start("GLDATA", "warning", details="2 rows rejected")
    body = {"jobType": "INTEGRATION", "jobName": "GLDATA", "periodName": "{Oct-26}"}
    answer = http.post(epm.base_url + DI_JOBS, json=body, timeout=5)
    assert answer.status_code == 200
    assert (answer.json()["jobId"], answer.json()["status"]) == ("1001", "-1")
    polled = http.get(epm.job_url("data_integration", "1001"), timeout=5).json()
    assert (polled["jobStatus"], polled["details"]) == ("WARNING", "2 rows rejected")
    assert epm.starts()[0].body == body


def test_a_refused_job_name_answers_its_status_and_detail_and_starts_nothing(
    epm: EpmSandbox, http: requests.Session
) -> None:
    """refuse_start answers EPM's error body; the attempt is recorded without a job."""
    epm.refuse_start("Agg", 409, "Another instance of the job is running.")
    answer = http.post(
        epm.base_url + HP_JOBS, json={"jobType": "RULES", "jobName": "Agg"}, timeout=5
    )
    assert answer.status_code == 409
    assert answer.json()["detail"] == "Another instance of the job is running."
    (start,) = epm.starts()
    assert (start.status, start.job_id) == (409, None)


def test_starts_need_credentials_a_post_and_a_json_body(
    epm: EpmSandbox, http: requests.Session
) -> None:
    """No credentials 401, GET on the collection 405, bad JSON 400; none is recorded."""
    url = epm.base_url + HP_JOBS
    assert (
        requests.post(url, json={"jobType": "RULES", "jobName": "Agg"}, timeout=5).status_code
        == 401
    )
    assert http.get(url, timeout=5).status_code == 405
    assert http.post(url, data=b"{", timeout=5).status_code == 400
    assert epm.starts() == []


def test_a_start_without_type_or_name_is_refused_with_400(
    epm: EpmSandbox, http: requests.Session
) -> None:
    """jobType and jobName are required, as in EPM."""
    answer = http.post(epm.base_url + DI_JOBS, json={"jobName": "GLDATA"}, timeout=5)
    assert answer.status_code == 400
    assert "jobType and jobName are required" in answer.json()["detail"]
