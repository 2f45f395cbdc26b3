"""The EPM Cloud sandbox answers like the documented EPM REST APIs, driven by plain requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from bot.sandbox.epm import OUTCOMES, EpmSandbox, JobState, script
from tests.conftest import wait_until

TIMEOUT = 5.0
CLIENT_ID = "epmpulse"
CLIENT_SECRET = "s3cret"


@pytest.fixture
def epm() -> Iterator[EpmSandbox]:
    """A started sandbox with one registered OAuth client."""
    with EpmSandbox(username="svc_epm", password="pw-1") as sandbox:
        sandbox.register_client(CLIENT_ID, CLIENT_SECRET)
        yield sandbox


def poll(epm: EpmSandbox, kind: str, job_id: int | str, app: str = "Vision") -> requests.Response:
    """GET a job's status with the sandbox's Basic credentials."""
    url = epm.job_url(kind, job_id, app)
    return requests.get(url, auth=(epm.username, epm.password), timeout=TIMEOUT)


def token(epm: EpmSandbox, auth: tuple[str, str] | None = None, **form: str) -> requests.Response:
    """POST a form to the OAuth token endpoint."""
    return requests.post(epm.token_url, data=form, auth=auth, timeout=TIMEOUT)


def bearer(epm: EpmSandbox, url: str, access_token: str) -> requests.Response:
    """GET a URL with a bearer access token."""
    headers = {"Authorization": f"Bearer {access_token}"}
    return requests.get(url, headers=headers, timeout=TIMEOUT)


# -- job shapes ------------------------------------------------------------------------

PLANNING = {
    "running": (-1, "Processing"),
    "ok": (0, "Completed"),
    "warning": (0, "Completed with warnings"),
    "error": (1, "Error"),
    "cancel_pending": (2, "Cancel Pending"),
    "cancelled": (3, "Cancelled"),
    "invalid": (4, "Invalid Parameter"),
    "unknown": (2147483647, "Unknown"),
}
DATA_INTEGRATION = {
    "running": ("-1", "RUNNING"),
    "ok": ("0", "SUCCESS"),
    "warning": ("0", "WARNING"),
    "error": ("1", "FAILED"),
    "cancel_pending": ("2", "RUNNING"),
    "cancelled": ("3", "FAILED"),
    "invalid": ("4", "FAILED"),
    "unknown": ("2147483647", "RUNNING"),
}
# ARCS answers Oracle's migration status codes: 0 success, -1 in progress, positive failed.
ARCS = {
    "running": -1,
    "ok": 0,
    "warning": 0,
    "error": 1,
    "cancel_pending": -1,
    "cancelled": 3,
    "invalid": 4,
    "unknown": -1,
}


def test_the_expected_tables_cover_every_outcome() -> None:
    """Every outcome the sandbox knows has an expected shape in these tests."""
    assert set(PLANNING) == set(DATA_INTEGRATION) == set(ARCS) == set(OUTCOMES)


@pytest.mark.parametrize("outcome", sorted(PLANNING))
def test_a_planning_job_reports_each_status_in_the_documented_shape(
    epm: EpmSandbox, outcome: Any
) -> None:
    """A Planning job answers status, descriptiveStatus, an integer jobId and two links."""
    epm.add_job("planning", 224, [outcome], job_name="Refresh Database")
    reply = poll(epm, "planning", 224)
    body = reply.json()
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert (body["status"], body["descriptiveStatus"]) == PLANNING[outcome]
    assert body["jobId"] == 224
    assert body["jobName"] == "Refresh Database"
    assert isinstance(body["details"], str)
    assert [link["rel"] for link in body["links"]] == ["self", "job-details"]
    assert body["links"][0]["href"] == epm.job_url("planning", 224)


def test_an_fccs_job_is_served_on_the_planning_endpoint_of_its_own_application(
    epm: EpmSandbox,
) -> None:
    """An FCCS job lives under /HyperionPlanning/... of its application, not of Vision."""
    epm.add_job("fccs", 7, ["error"], app="FCCS", details="Consolidation failed")
    assert "/applications/FCCS/jobs/7" in epm.job_url("fccs", 7, app="FCCS")
    body = poll(epm, "fccs", 7, app="FCCS").json()
    assert (body["status"], body["descriptiveStatus"], body["details"]) == (
        1,
        "Error",
        "Consolidation failed",
    )
    assert poll(epm, "planning", 7, app="Vision").status_code == 404


@pytest.mark.parametrize("outcome", sorted(DATA_INTEGRATION))
def test_a_data_integration_job_reports_each_status_with_numbers_as_strings(
    epm: EpmSandbox, outcome: Any
) -> None:
    """A Data Integration job sends status and jobId as strings plus jobStatus and file names."""
    epm.add_job("data_integration", 1881, [outcome])
    body = poll(epm, "data_integration", 1881).json()
    assert (body["status"], body["jobStatus"]) == DATA_INTEGRATION[outcome]
    assert body["jobId"] == "1881"
    assert body["logFileName"].endswith("_1881.log")
    assert "outputFileName" in body
    assert body["processType"]
    assert body["executedBy"] == "svc_epm"
    assert body["links"][0]["rel"] == "self"


@pytest.mark.parametrize("outcome", sorted(ARCS))
def test_an_arcs_job_reports_each_status_in_the_documented_shape(
    epm: EpmSandbox, outcome: Any
) -> None:
    """An ARCS job answers type ARCS, an integer status and null error, items and link."""
    epm.add_job("arcs", 2141, [outcome])
    body = poll(epm, "arcs", 2141).json()
    assert body["type"] == "ARCS"
    assert body["status"] == ARCS[outcome]
    assert (body["error"], body["items"], body["link"]) == (None, None, None)
    assert body["links"][0]["href"].endswith("/armARCS/rest/v1/jobs/2141")


def test_an_arcs_job_answers_only_migration_status_codes(epm: EpmSandbox) -> None:
    """ARCS never sends Planning's running codes 2 or 2147483647: -1 runs, 0 ends well, >0 fails."""
    epm.add_job("arcs", 2142, ["cancel_pending", "unknown", "running", "cancelled"])
    codes = [poll(epm, "arcs", 2142).json()["status"] for _ in range(4)]
    assert codes == [-1, -1, -1, 3]


def test_an_arcs_job_can_be_scripted_to_fail_with_any_positive_code(epm: EpmSandbox) -> None:
    """A JobState override sends an ARCS failure code the outcomes do not name, such as 5."""
    epm.add_job("arcs", 2143, ["running", JobState("error", "Period is locked", {"status": 5})])
    bodies = [poll(epm, "arcs", 2143).json() for _ in range(2)]
    assert [(b["status"], b["details"]) for b in bodies] == [
        (-1, "In Process"),
        (5, "Period is locked"),
    ]


def test_a_script_advances_one_step_per_poll_and_its_last_state_sticks(epm: EpmSandbox) -> None:
    """A job scripted as two running polls then ok reports -1, -1, 0, 0."""
    job = epm.add_job("planning", 5, script("ok", running=2))
    statuses = [poll(epm, "planning", 5).json()["status"] for _ in range(4)]
    assert statuses == [-1, -1, 0, 0]
    assert job.polls == 4
    assert epm.job_polls("planning", 5) == 4


def test_details_apply_to_finished_states_but_running_states_keep_their_own(
    epm: EpmSandbox,
) -> None:
    """The details argument is reported once the job finishes, not while it runs."""
    epm.add_job("arcs", 9, ["running", "warning"], details="2 of 3 copied")
    assert poll(epm, "arcs", 9).json()["details"] == "In Process"
    assert poll(epm, "arcs", 9).json()["details"] == "2 of 3 copied"


def test_a_job_state_can_override_raw_fields_of_the_body(epm: EpmSandbox) -> None:
    """A JobState's extra fields replace the rendered ones, e.g. an integer DI status."""
    epm.add_job("data_integration", 3, [JobState("ok", "done", {"status": 0, "jobId": 3})])
    body = poll(epm, "data_integration", 3).json()
    assert (body["status"], body["jobId"], body["details"]) == (0, 3, "done")


def test_an_unknown_job_or_application_answers_404_with_an_epm_error_body(
    epm: EpmSandbox,
) -> None:
    """Polling a job or application that does not exist answers 404 with detail and status."""
    epm.add_job("planning", 1, ["ok"])
    missing_job = poll(epm, "planning", 2)
    missing_app = poll(epm, "planning", 1, app="Nope")
    assert (missing_job.status_code, missing_app.status_code) == (404, 404)
    assert missing_job.json()["status"] == 404
    assert "2" in missing_job.json()["detail"]
    assert "Nope" in missing_app.json()["detail"]
    assert poll(epm, "arcs", 1).status_code == 404
    assert epm.job_polls("planning", 2) == 0


def test_add_job_rejects_an_unknown_kind_or_outcome(epm: EpmSandbox) -> None:
    """Scripting a job of an unknown kind or with an unknown outcome raises ValueError."""
    with pytest.raises(ValueError, match="kind"):
        epm.add_job("hfm", 1, ["ok"])
    with pytest.raises(ValueError, match="outcome"):
        epm.add_job("planning", 1, ["finished"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="at least one"):
        epm.add_job("planning", 1, [])


# -- authentication --------------------------------------------------------------------


def test_basic_auth_with_the_configured_user_is_accepted_and_logged(epm: EpmSandbox) -> None:
    """A poll with the configured user and password answers 200 and is logged as basic."""
    epm.add_job("arcs", 1, ["ok"])
    assert poll(epm, "arcs", 1).status_code == 200
    assert [r.auth for r in epm.requests()] == ["basic"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic c3ZjX2VwbTp3cm9uZw=="},  # svc_epm:wrong
        {"Authorization": "Basic b3RoZXI6cHctMQ=="},  # other:pw-1
        {"Authorization": "Basic %%%"},
        {"Authorization": "Token abc"},
    ],
    ids=["missing", "wrong-password", "wrong-user", "garbage", "other-scheme"],
)
def test_bad_or_missing_credentials_answer_401(epm: EpmSandbox, headers: dict[str, str]) -> None:
    """Missing, wrong or malformed credentials answer 401 with a challenge, job untouched."""
    epm.add_job("arcs", 1, ["ok"])
    reply = requests.get(epm.job_url("arcs", 1), headers=headers, timeout=TIMEOUT)
    assert reply.status_code == 401
    assert "WWW-Authenticate" in reply.headers
    assert epm.job_polls("arcs", 1) == 0


def test_a_refresh_token_rotates_on_every_use_and_a_used_one_is_refused(epm: EpmSandbox) -> None:
    """Each refresh returns a new refresh token; reusing a consumed one gives invalid_grant."""
    first = epm.issue_refresh_token(CLIENT_ID)
    grant = {"grant_type": "refresh_token", "refresh_token": first}
    reply = token(epm, (CLIENT_ID, CLIENT_SECRET), **grant)
    body = reply.json()
    assert reply.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_token"] not in ("", first)
    assert reply.headers["Cache-Control"] == "no-store"
    assert epm.live_refresh_tokens(CLIENT_ID) == [body["refresh_token"]]

    reused = token(epm, (CLIENT_ID, CLIENT_SECRET), **grant)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"

    again = token(
        epm, (CLIENT_ID, CLIENT_SECRET), **{**grant, "refresh_token": body["refresh_token"]}
    )
    assert again.status_code == 200
    assert [r.grant_type for r in epm.requests()] == ["refresh_token"] * 3


def test_an_unknown_refresh_token_is_refused_with_invalid_grant(epm: EpmSandbox) -> None:
    """A refresh token the server never issued answers 400 invalid_grant."""
    reply = token(epm, (CLIENT_ID, CLIENT_SECRET), grant_type="refresh_token", refresh_token="x")
    assert (reply.status_code, reply.json()["error"]) == (400, "invalid_grant")


def test_a_public_client_may_refresh_with_a_form_client_id(epm: EpmSandbox) -> None:
    """A refresh with client_id in the form and no secret succeeds for a registered client."""
    refresh = epm.issue_refresh_token(CLIENT_ID)
    reply = token(epm, grant_type="refresh_token", refresh_token=refresh, client_id=CLIENT_ID)
    assert reply.status_code == 200
    assert reply.json()["refresh_token"] != refresh


def test_parallel_refreshes_with_one_token_let_exactly_one_win(epm: EpmSandbox) -> None:
    """Eight simultaneous refreshes with the same token yield one 200 and seven invalid_grant."""
    refresh = epm.issue_refresh_token(CLIENT_ID)
    form = {"grant_type": "refresh_token", "refresh_token": refresh}
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: token(epm, (CLIENT_ID, CLIENT_SECRET), **form), range(8)))
    assert sorted(r.status_code for r in replies) == [200] + [400] * 7


def test_an_access_token_from_a_refresh_authorizes_job_polls(epm: EpmSandbox) -> None:
    """The access token of a refresh grant is accepted as a bearer token."""
    epm.add_job("data_integration", 4, ["ok"])
    refresh = epm.issue_refresh_token(CLIENT_ID)
    reply = token(
        epm, (CLIENT_ID, CLIENT_SECRET), grant_type="refresh_token", refresh_token=refresh
    )
    polled = bearer(epm, epm.job_url("data_integration", 4), reply.json()["access_token"])
    assert polled.status_code == 200
    assert epm.requests()[-1].auth == "bearer"


def test_client_credentials_issue_an_access_token_without_a_refresh_token(epm: EpmSandbox) -> None:
    """The client_credentials grant answers an access token, expiry and scope but no refresh."""
    epm.expires_in = 120
    reply = token(epm, (CLIENT_ID, CLIENT_SECRET), grant_type="client_credentials", scope="epm")
    body = reply.json()
    assert reply.status_code == 200
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 120, "epm")
    assert "refresh_token" not in body
    epm.add_job("arcs", 1, ["ok"])
    assert bearer(epm, epm.job_url("arcs", 1), body["access_token"]).status_code == 200


@pytest.mark.parametrize(
    ("auth", "form"),
    [
        ((CLIENT_ID, "wrong"), {"grant_type": "client_credentials"}),
        (("nobody", CLIENT_SECRET), {"grant_type": "client_credentials"}),
        (None, {"grant_type": "client_credentials", "client_id": CLIENT_ID}),
    ],
    ids=["wrong-secret", "unknown-client", "no-secret"],
)
def test_the_token_endpoint_refuses_a_client_it_cannot_authenticate(
    epm: EpmSandbox, auth: tuple[str, str] | None, form: dict[str, str]
) -> None:
    """A wrong secret, an unknown client or a secret-less client_credentials answers 401."""
    reply = token(epm, auth, **form)
    assert (reply.status_code, reply.json()["error"]) == (401, "invalid_client")


def test_the_token_endpoint_refuses_an_unsupported_grant(epm: EpmSandbox) -> None:
    """A grant type other than refresh_token or client_credentials answers 400."""
    reply = token(epm, (CLIENT_ID, CLIENT_SECRET), grant_type="password")
    assert (reply.status_code, reply.json()["error"]) == (400, "unsupported_grant_type")


def test_an_expired_access_token_answers_401(epm: EpmSandbox) -> None:
    """After expire_access_tokens a previously good bearer token answers 401 invalid_token."""
    epm.add_job("arcs", 1, ["ok"])
    access = epm.issue_access_token(CLIENT_ID)
    assert bearer(epm, epm.job_url("arcs", 1), access).status_code == 200
    epm.expire_access_tokens()
    reply = bearer(epm, epm.job_url("arcs", 1), access)
    assert reply.status_code == 401
    assert "invalid_token" in reply.headers["WWW-Authenticate"]


def test_an_access_token_expires_after_expires_in_seconds_of_the_clock() -> None:
    """A token minted with expires_in=60 is good at t+59 and refused at t+60."""
    now = [1000.0]
    with EpmSandbox(clock=lambda: now[0], expires_in=60) as epm:
        epm.register_client(CLIENT_ID, CLIENT_SECRET)
        epm.add_job("arcs", 1, ["ok"])
        access = epm.issue_access_token(CLIENT_ID)
        now[0] += 59
        assert bearer(epm, epm.job_url("arcs", 1), access).status_code == 200
        now[0] += 1
        assert bearer(epm, epm.job_url("arcs", 1), access).status_code == 401


def test_an_unknown_bearer_token_answers_401(epm: EpmSandbox) -> None:
    """A bearer token the server never issued answers 401."""
    epm.add_job("arcs", 1, ["ok"])
    assert bearer(epm, epm.job_url("arcs", 1), "at-made-up").status_code == 401


# -- failures, latency, concurrency ----------------------------------------------------


@pytest.mark.parametrize("status", [503, 429, 500])
def test_injected_failures_are_served_n_times_with_retry_after_then_the_job_answers(
    epm: EpmSandbox, status: int
) -> None:
    """An injected failure answers twice with Retry-After, without advancing the script."""
    epm.add_job("planning", 8, script("ok", running=1))
    epm.inject("/HyperionPlanning/", status, times=2, retry_after=1)
    failures = [poll(epm, "planning", 8) for _ in range(2)]
    assert [r.status_code for r in failures] == [status, status]
    assert [r.headers["Retry-After"] for r in failures] == ["1", "1"]
    assert poll(epm, "planning", 8).json()["status"] == -1
    assert epm.job_polls("planning", 8) == 1
    assert [r.injected for r in epm.requests()] == [True, True, False]


def test_a_failure_injected_on_the_token_endpoint_spares_the_refresh_token(
    epm: EpmSandbox,
) -> None:
    """A 503 from the token endpoint does not consume the refresh token sent with it."""
    refresh = epm.issue_refresh_token(CLIENT_ID)
    epm.inject("/oauth2/", 503)
    form = {"grant_type": "refresh_token", "refresh_token": refresh}
    assert token(epm, (CLIENT_ID, CLIENT_SECRET), **form).status_code == 503
    assert token(epm, (CLIENT_ID, CLIENT_SECRET), **form).status_code == 200


def test_inject_refuses_a_success_status(epm: EpmSandbox) -> None:
    """Injecting a non-error status raises ValueError."""
    with pytest.raises(ValueError, match="error status"):
        epm.inject("/", 200)


def test_a_dropped_connection_fails_the_request_then_the_server_answers_again(
    epm: EpmSandbox,
) -> None:
    """drop_connections closes the socket unanswered once; the next poll succeeds."""
    epm.add_job("arcs", 1, ["ok"])
    epm.drop_connections("/armARCS/")
    with requests.Session() as session, pytest.raises(requests.ConnectionError):
        session.get(epm.job_url("arcs", 1), auth=(epm.username, epm.password), timeout=TIMEOUT)
    assert poll(epm, "arcs", 1).status_code == 200
    assert [r.status for r in epm.requests()] == [0, 200]


def test_latency_applies_per_path_prefix(epm: EpmSandbox) -> None:
    """A 200 ms latency on /aif slows Data Integration polls but not ARCS ones."""
    epm.add_job("data_integration", 1, ["ok"])
    epm.add_job("arcs", 1, ["ok"])
    epm.set_latency(0.2, "/aif/")
    poll(epm, "data_integration", 1)
    poll(epm, "arcs", 1)
    slow, fast = epm.requests()
    assert (slow.delay, fast.delay) == (0.2, 0.0)


def test_a_held_request_stays_in_flight_until_released_then_is_answered(
    epm: EpmSandbox,
) -> None:
    """hold() keeps the next request under the prefix in flight; release() answers it."""
    epm.add_job("arcs", 1, ["ok"])
    gate = epm.hold("/armARCS/")
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(poll, epm, "arcs", 1)
        assert gate.arrived.wait(TIMEOUT)
        assert (epm.in_flight(), epm.requests(), epm.job_polls("arcs", 1)) == (1, [], 0)
        gate.release()
        assert answer.result(TIMEOUT).status_code == 200
    assert poll(epm, "arcs", 1).status_code == 200  # only the next request was held
    assert [r.status for r in epm.requests()] == [200, 200]


@pytest.mark.parametrize(("clients", "latency"), [(8, 0.2), (16, 0.3)])
def test_parallel_polls_overlap_instead_of_queueing(clients: int, latency: float) -> None:
    """N parallel clients with latency L are all in flight at once, not queued one by one."""
    with EpmSandbox(latency=latency) as epm:
        for job_id in range(clients):
            epm.add_job("planning", job_id, ["ok"])
        barrier = threading.Barrier(clients, timeout=TIMEOUT)

        def one(job_id: int) -> int:
            barrier.wait()
            return poll(epm, "planning", job_id).status_code

        with ThreadPoolExecutor(clients) as pool:
            statuses = list(pool.map(one, range(clients)))
        assert statuses == [200] * clients
        assert epm.max_concurrency() == clients
        assert epm.max_concurrency("/aif/") == 0
        assert [r.delay for r in epm.requests()] == [latency] * clients
        assert all(epm.job_polls("planning", job_id) == 1 for job_id in range(clients))


def test_sequential_requests_have_a_concurrency_of_one(epm: EpmSandbox) -> None:
    """Requests made one after another never count as overlapping."""
    epm.add_job("arcs", 1, ["ok"])
    for _ in range(3):
        poll(epm, "arcs", 1)
    assert epm.max_concurrency() == 1
    epm.clear_requests()
    assert epm.requests() == []
    assert epm.max_concurrency() == 0


def test_the_request_log_records_method_path_status_auth_and_times(epm: EpmSandbox) -> None:
    """Each logged request carries its method, path, status, auth type and ordered times."""
    epm.add_job("planning", 3, ["ok"])
    before = time.monotonic()
    poll(epm, "planning", 3)
    requests.post(epm.token_url, data={"grant_type": "client_credentials"}, timeout=TIMEOUT)
    job, tok = epm.requests()
    assert (job.method, job.status, job.auth, job.job_id) == ("GET", 200, "basic", "3")
    assert job.path == "/HyperionPlanning/rest/v3/applications/Vision/jobs/3"
    assert (tok.method, tok.status, tok.auth) == ("POST", 401, "none")
    assert tok.grant_type == "client_credentials"
    assert before <= job.started <= job.ended <= tok.started <= tok.ended
    assert [r.path for r in epm.requests("/oauth2/")] == ["/oauth2/v1/token"]


def test_stop_cuts_the_latency_wait_of_a_request_in_flight_short() -> None:
    """Stopping cuts an hour-long latency wait short and joins the serving threads."""
    epm = EpmSandbox(latency=3600.0).start()
    epm.add_job("arcs", 1, ["ok"])
    outcome: list[object] = []
    client = threading.Thread(target=lambda: outcome.append(_try_poll(epm)), daemon=True)
    client.start()
    wait_until(lambda: epm.in_flight() == 1, "the request to be in flight", timeout=TIMEOUT)
    epm.stop()
    assert epm.in_flight() == 0  # the handler ended: its hour-long wait was cut short
    client.join(TIMEOUT)
    assert not client.is_alive()
    assert outcome
    with pytest.raises(requests.ConnectionError):
        requests.get(epm.base_url, timeout=1)


def test_a_sandbox_starts_only_once() -> None:
    """Starting a sandbox a second time raises RuntimeError."""
    epm = EpmSandbox().start()
    try:
        with pytest.raises(RuntimeError):
            epm.start()
    finally:
        epm.stop()
    with pytest.raises(RuntimeError):
        epm.start()


def _try_poll(epm: EpmSandbox) -> object:
    try:
        return poll(epm, "arcs", 1).status_code
    except requests.RequestException as exc:
        return exc


def _start(epm: EpmSandbox, path: str, body: dict[str, Any]) -> requests.Response:
    """POST a job start with the sandbox's Basic credentials."""
    auth = (epm.username, epm.password)
    return requests.post(epm.base_url + path, json=body, auth=auth, timeout=TIMEOUT)


PLANNING_JOBS = "/HyperionPlanning/rest/v3/applications/Vision/jobs"
DI_JOBS = "/aif/rest/V1/jobs"


def test_a_planning_start_of_an_undocumented_job_type_is_refused_case_sensitively(
    epm: EpmSandbox,
) -> None:
    """jobType "rules" or "Consolidate": 400 with EPM's error body; RULES and Cube Refresh run."""
    for job_type in ("rules", "Consolidate"):
        answer = _start(epm, PLANNING_JOBS, {"jobType": job_type, "jobName": "Agg"})
        assert answer.status_code == 400
        message = f"Invalid job type: {job_type}."
        assert answer.json() == {
            "detail": message,
            "status": 400,
            "message": message,
            "localizedMessage": message,
        }
    for job_type in ("RULES", "Cube Refresh"):
        assert _start(epm, PLANNING_JOBS, {"jobType": job_type, "jobName": "A"}).status_code == 201
    assert [(s.body["jobType"], s.job_id) for s in epm.starts()] == [
        ("rules", None),
        ("Consolidate", None),
        ("RULES", "1001"),
        ("Cube Refresh", "1002"),
    ]


@pytest.mark.parametrize("key", ["periodName", "startPeriod", "endPeriod"])
def test_a_data_integration_period_outside_braces_is_refused(epm: EpmSandbox, key: str) -> None:
    """Oct-26 where Data Integration wants {Oct-26}: 400, nothing started."""
    answer = _start(epm, DI_JOBS, {"jobType": "INTEGRATION", "jobName": "GLDATA", key: "Oct-26"})
    assert answer.status_code == 400
    assert answer.json()["detail"] == (
        f"Invalid {key} Oct-26: enclose period names in braces, e.g. {{Oct-26}}."
    )
    assert [s.job_id for s in epm.starts()] == [None]


def test_a_data_integration_start_with_braced_periods_runs_whatever_its_type(
    epm: EpmSandbox,
) -> None:
    """{Oct-26} and {Jan-26}{Mar-26} are taken; Data Integration job types are not checked."""
    body = {"jobType": "pipeline", "jobName": "DAILY", "periodName": "{Jan-26}{Mar-26}"}
    assert _start(epm, DI_JOBS, body).status_code == 200
    body = {
        "jobType": "DATARULE",
        "jobName": "R",
        "startPeriod": "{Oct-26}",
        "endPeriod": "{Oct-26}",
    }
    assert _start(epm, DI_JOBS, body).status_code == 200


def test_the_sandbox_knows_the_job_types_the_configuration_accepts() -> None:
    """The sandbox's copy of Oracle's job types equals the configuration check's list."""
    from bot.estate import PLANNING_JOB_TYPES
    from bot.sandbox.epm.starts import JOB_TYPES

    assert set(PLANNING_JOB_TYPES) == JOB_TYPES
    assert len(PLANNING_JOB_TYPES) == len(set(PLANNING_JOB_TYPES))
