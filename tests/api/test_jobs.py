"""``POST /api/v1/jobs``: start a domain's EPM job over REST, with every refusal and failure."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.api import create_api
from bot.api.ratelimit import RateLimits
from bot.epm.launch import JobLauncher
from bot.epm.part import build_clients
from bot.metrics import Metrics
from bot.model import Status
from bot.runtime import Check
from bot.sandbox.epm import EpmSandbox
from bot.service import StatusService
from bot.store import JsonStore
from tests.api.conftest import CI_KEY, KEYS, TestClient, bearer
from tests.conftest import MakeConfig, wait_until

HP_JOBS = "/HyperionPlanning/rest/v3/applications/Vision/jobs"
URL = "/api/v1/jobs"


@pytest.fixture
def epm() -> Iterator[EpmSandbox]:
    """A started EPM sandbox."""
    with EpmSandbox(username="svc", password="pw") as sandbox:
        yield sandbox


class JobsApi:
    """The API over an estate whose Planning/Actuals has a job on the sandbox."""

    def __init__(self, http: TestClient, service: StatusService) -> None:
        self.http = http
        self.service = service

    def start(self, body: Any, key: str | None = CI_KEY) -> tuple[int, dict[str, Any]]:
        """POST /jobs; the status code and JSON body."""
        headers = bearer(key) if key else {}
        response = self.http.post(URL, json=body, headers=headers)
        return response.status_code, response.json()


MakeJobsApi = Callable[..., JobsApi]


@pytest.fixture
def make_jobs_api(make_config: MakeConfig, epm: EpmSandbox) -> Iterator[MakeJobsApi]:
    """Build the API with a launcher; ``timeout`` is the EPM server's timeout."""
    opened: list[Any] = []

    def make(timeout: float = 5, limits: str = "") -> JobsApi:
        config = make_config(
            f"""
apps:
  Planning:
    domains: [Actuals, Forecast]
    server: planning
    jobs: {{Actuals: {{type: RULES, name: Aggregate Actuals}}}}
epm:
  servers:
    planning:
      kind: planning
      base_url: {epm.base_url}
      application: Vision
      timeout_seconds: {timeout}
      auth: {{type: basic, username: svc, password: pw}}
"""
        )
        store = JsonStore(config.settings.data_dir)
        metrics = Metrics()
        service = StatusService(config.estate.layout, store, metrics=metrics)
        clients = build_clients(config)
        app = create_api(
            service,
            api_keys={k: SecretStr(v) for k, v in KEYS.items()},
            metrics=metrics,
            health=lambda: {"store": Check(True, "ok")},
            rate_limits=RateLimits.parse(limits),
            launcher=JobLauncher(service, clients, estate=config.estate),
        )
        http = TestClient(app, raise_server_exceptions=False)
        http.__enter__()
        opened.append((http, store, clients))
        return JobsApi(http, service)

    yield make
    for http, store, clients in opened:
        http.__exit__(None, None, None)
        for client in clients.values():
            client.close()
        store.close()


@pytest.fixture
def api(make_jobs_api: MakeJobsApi) -> JobsApi:
    """The API with a 5 s EPM timeout."""
    return make_jobs_api()


def posts(epm: EpmSandbox, timeout: float = 5.0) -> int:
    """How many job-start POSTs reached the EPM sandbox, once nothing is in flight."""
    wait_until(lambda: not epm.in_flight(), "no request in flight at the EPM sandbox", timeout)
    return sum(1 for r in epm.requests() if r.method == "POST")


def test_a_start_answers_the_job_and_sets_loading_by_the_key(api: JobsApi, epm: EpmSandbox) -> None:
    """200 with {app, domain, server, job_id}; the domain is Loading by api:ci."""
    status, body = api.start({"app": "planning", "domain": "ACTUALS"})
    assert status == 200, body
    assert body == {
        "ok": True,
        "data": {"app": "Planning", "domain": "Actuals", "server": "planning", "job_id": "1001"},
    }
    record = api.service.get("Planning", "Actuals")
    assert (record.status, record.updated_by) == (Status.LOADING, "api:ci")
    assert record.message == "Started Aggregate Actuals (job 1001)"
    assert posts(epm) == 1


@pytest.mark.parametrize(
    ("key", "status", "code"), [(None, 401, "MISSING_AUTH"), ("nope", 403, "INVALID_KEY")]
)
def test_no_or_a_wrong_key_is_refused_before_epm_is_called(
    api: JobsApi, epm: EpmSandbox, key: str | None, status: int, code: str
) -> None:
    """Authentication comes first: nothing reaches EPM."""
    answer, body = api.start({"app": "Planning", "domain": "Actuals"}, key=key)
    assert (answer, body["error"]["code"]) == (status, code)
    assert posts(epm) == 0


@pytest.mark.parametrize(
    ("request_body", "code", "text"),
    [
        ({"app": "Planning", "domain": "Forecast"}, "INVALID_DOMAIN", "Domains of Planning with"),
        ({"app": "Plannig", "domain": "Actuals"}, "INVALID_APP", "Did you mean Planning?"),
        ({"app": "Planning"}, "INVALID_REQUEST", "domain: Field required"),
        ({"app": "Planning", "domain": "Actuals", "x": 1}, "INVALID_REQUEST", "unknown field"),
    ],
)
def test_bad_input_is_a_400_that_never_calls_epm(
    api: JobsApi, epm: EpmSandbox, request_body: dict[str, Any], code: str, text: str
) -> None:
    """No job, unknown names, missing or unknown fields: 400 with the right code."""
    status, body = api.start(request_body)
    assert (status, body["error"]["code"]) == (400, code)
    assert text in body["error"]["message"]
    assert posts(epm) == 0


def test_a_domain_still_running_is_409_without_a_second_post(api: JobsApi, epm: EpmSandbox) -> None:
    """409 JOB_RUNNING names the unfinished job; EPM got one start only."""
    api.start({"app": "Planning", "domain": "Actuals"})
    status, body = api.start({"app": "Planning", "domain": "Actuals"})
    assert (status, body["error"]["code"]) == (409, "JOB_RUNNING")
    assert "already running: job 1001" in body["error"]["message"]
    assert posts(epm) == 1


@pytest.mark.parametrize(
    ("failure", "status", "code", "text"),
    [
        ("refused", 502, "EPM_ERROR", "Rule Aggregate Actuals is invalid."),
        ("503", 502, "EPM_ERROR", "HTTP 503"),
        ("timeout", 504, "EPM_NO_ANSWER", "may have started; check"),
        ("reset", 504, "EPM_NO_ANSWER", "may have started; check"),
    ],
)
def test_epm_failures_are_reported_with_one_post_and_no_change(
    make_jobs_api: MakeJobsApi,
    epm: EpmSandbox,
    failure: str,
    status: int,
    code: str,
    text: str,
) -> None:
    """Refusal and 503 are 502 EPM_ERROR; timeout and reset 504 EPM_NO_ANSWER; one POST."""
    api = make_jobs_api(timeout=0.3)
    if failure == "refused":
        epm.refuse_start("Aggregate Actuals", 422, "Rule Aggregate Actuals is invalid.")
    elif failure == "503":
        epm.inject(HP_JOBS, 503)
    elif failure == "timeout":
        epm.set_latency(1.0, HP_JOBS)
    else:
        epm.drop_connections(HP_JOBS)
    answer, body = api.start({"app": "Planning", "domain": "Actuals"})
    assert (answer, body["error"]["code"]) == (status, code)
    assert text in body["error"]["message"]
    assert posts(epm) == 1
    assert api.service.get("Planning", "Actuals").status is Status.PENDING


def test_starts_count_against_the_status_limit(make_jobs_api: MakeJobsApi) -> None:
    """POST /status and POST /jobs share the key's status window."""
    api = make_jobs_api(limits="status=1/minute")
    update = {"app": "Planning", "domain": "Forecast", "status": "OK"}
    assert api.http.post("/api/v1/status", json=update, headers=bearer(CI_KEY)).status_code == 200
    status, body = api.start({"app": "Planning", "domain": "Actuals"})
    assert (status, body["error"]["code"]) == (429, "RATE_LIMITED")


def test_the_route_is_documented_with_its_failures(api: JobsApi) -> None:
    """OpenAPI: POST /jobs with the status limit, the bearer scheme and 409/502/504."""
    spec = api.http.get("/api/v1/openapi.json").json()
    operation = spec["paths"]["/api/v1/jobs"]["post"]
    assert operation["x-rate-limit-group"] == "status"
    assert operation["security"] == [{"apiKey": []}]
    assert {"200", "400", "401", "403", "409", "413", "429", "502", "503", "504"} <= set(
        operation["responses"]
    )
    schemas = spec["components"]["schemas"]
    assert schemas["EpmNoAnswerDetail"]["properties"]["code"]["const"] == "EPM_NO_ANSWER"
