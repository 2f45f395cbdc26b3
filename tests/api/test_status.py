"""Reading and setting one status over HTTP: success shapes and every 400 code."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Config
from bot.store import JsonStore
from tests.api.conftest import MakeApi, TestClient
from tests.conftest import MakeConfig

ESTATE = """
apps:
  Planning: {domains: [Actuals, Forecast, Budget], server: planning}
  FCCS: {domains: [Actuals, Consolidation]}
epm:
  servers:
    planning:
      kind: planning
      base_url: https://planning.example.com
      application: Vision
      auth: {type: basic, username: u, password: p}
"""


@pytest.fixture
def config(make_config: MakeConfig) -> Config:
    """Two apps and one EPM server named ``planning``."""
    return make_config(ESTATE)


def test_it_sets_a_status_durably(client: TestClient, ci: dict[str, str], config: Config) -> None:
    """POST /status answers with the record's fields and the previous status, durably."""
    body = {"app": "planning", "domain": "ACTUALS", "status": "ok", "message": " loaded "}
    response = client.post("/api/v1/status", json=body, headers=ci)
    assert response.status_code == 200
    payload = response.json()
    assert payload["ok"] is True
    data = payload["data"]
    assert set(data) == {
        *("app", "domain", "status", "message", "updated_at", "updated_by", "jobs", "since"),
        *("due_at", "overdue", "waiting_on"),  # SPEC §11
        "disputed",  # SPEC §17
        *("previous_status", "status_changed"),
        *("pending_approval", "approved_by"),  # SPEC §18
    }
    assert (data["app"], data["domain"], data["status"]) == ("Planning", "Actuals", "OK")
    assert (data["message"], data["updated_by"], data["jobs"]) == ("loaded", "api:ci", [])
    assert data["updated_at"].endswith("Z")
    assert data["since"] == data["updated_at"]
    assert data["previous_status"] == "Pending"
    assert data["status_changed"] is True

    reopened = JsonStore(config.settings.data_dir)
    try:
        on_disk = reopened.snapshot().records[("Planning", "Actuals")]
    finally:
        reopened.close()
    assert on_disk["status"] == "OK"


def test_setting_the_same_status_again_is_not_a_status_change(
    client: TestClient, ci: dict[str, str]
) -> None:
    """A second identical status reports ``status_changed`` false."""
    body = {"app": "FCCS", "domain": "Actuals", "status": "Loading"}
    client.post("/api/v1/status", json=body, headers=ci)
    again = client.post("/api/v1/status", json=body, headers=ci).json()["data"]
    assert again["previous_status"] == "Loading"
    assert again["status_changed"] is False


def test_it_tracks_jobs_on_a_configured_server(client: TestClient, ci: dict[str, str]) -> None:
    """``jobs`` are stored with the canonical server name."""
    body = {
        "app": "Planning",
        "domain": "Forecast",
        "status": "Loading",
        "jobs": [{"server": "PLANNING", "job_id": "1234"}],
    }
    response = client.post("/api/v1/status", json=body, headers=ci)
    assert response.status_code == 200
    assert response.json()["data"]["jobs"] == [{"server": "planning", "job_id": "1234"}]


def test_it_reads_the_board_an_app_and_a_domain(client: TestClient, ci: dict[str, str]) -> None:
    """The three GET /status forms answer in configuration order with roll-ups."""
    client.post(
        "/api/v1/status",
        json={"app": "FCCS", "domain": "Consolidation", "status": "Error"},
        headers=ci,
    )
    board = client.get("/api/v1/status", headers=ci).json()["data"]
    assert [a["app"] for a in board] == ["Planning", "FCCS"]
    assert [d["domain"] for d in board[0]["domains"]] == ["Actuals", "Forecast", "Budget"]
    assert board[1]["status"] == "Error"

    app = client.get("/api/v1/status/fccs", headers=ci).json()["data"]
    assert app["app"] == "FCCS"
    assert app["status"] == "Error"
    domain = client.get("/api/v1/status/fccs/consolidation", headers=ci).json()["data"]
    assert (domain["domain"], domain["status"]) == ("Consolidation", "Error")


@pytest.mark.parametrize(
    ("body", "code", "named"),
    [
        ({"app": "Plannin", "domain": "Actuals", "status": "OK"}, "INVALID_APP", "Planning"),
        ({"app": "Planning", "domain": "Actual", "status": "OK"}, "INVALID_DOMAIN", "Forecast"),
        ({"app": "Planning", "domain": "Actuals", "status": "Done"}, "INVALID_STATUS", "Warning"),
        (
            {
                "app": "Planning",
                "domain": "Actuals",
                "status": "OK",
                "jobs": [{"server": "x", "job_id": "1"}],
            },
            "INVALID_REQUEST",
            "planning",
        ),
    ],
    ids=["app", "domain", "status", "server"],
)
def test_unknown_names_answer_400_naming_the_valid_choices(
    client: TestClient, ci: dict[str, str], body: dict[str, object], code: str, named: str
) -> None:
    """An unknown app, domain, status or server gets its code and the valid choices."""
    response = client.post("/api/v1/status", json=body, headers=ci)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert "Valid:" in error["message"]
    assert named in error["message"]


@pytest.mark.parametrize(
    ("path", "code"),
    [("/api/v1/status/Nope", "INVALID_APP"), ("/api/v1/status/Planning/Nope", "INVALID_DOMAIN")],
)
def test_unknown_names_in_the_path_answer_400(
    client: TestClient, ci: dict[str, str], path: str, code: str
) -> None:
    """GET with an unknown app or domain gets the same codes as a write."""
    response = client.get(path, headers=ci)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


DEEP = b'{"app": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"text"',
        b'{"app": "Planning", "domain": "Actuals"}',
        b'{"app": 1, "domain": "Actuals", "status": "OK"}',
        b'{"app": "Planning", "domain": "Actuals", "status": ["OK"]}',
        b'{"app": "Planning", "domain": "Actuals", "status": "OK", "extra": true}',
        b'{"app": "Planning", "domain": "Actuals", "status": "OK", "jobs": "123"}',
        b'{"app": "Planning", "domain": "Actuals", "status": "OK", "jobs": [{"job_id": "1"}]}',
        json.dumps(
            {"app": "Planning", "domain": "Actuals", "status": "OK", "message": "m" * 201}
        ).encode(),
        b'{"app": "\xff\xfe", "domain": "Actuals", "status": "OK"}',
        b'{"app": NaN, "domain": Infinity, "status": "OK"}',
        DEEP,
        b'{"app": ' + b"[" * 900 + b"]" * 900 + b', "domain": "Actuals", "status": "OK"}',
    ],
    ids=[
        "empty",
        "truncated",
        "null",
        "array",
        "string",
        "missing-status",
        "number-app",
        "list-status",
        "extra-field",
        "jobs-string",
        "job-without-server",
        "message-too-long",
        "not-utf8",
        "nan-and-infinity",
        "nested-10000",
        "nested-900",
    ],
)
def test_malformed_bodies_answer_400_invalid_request(
    client: TestClient, ci: dict[str, str], content: bytes
) -> None:
    """Malformed JSON, wrong types, extra fields and deep nesting get 400, never 500."""
    response = client.post(
        "/api/v1/status", content=content, headers={**ci, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


def test_a_body_that_is_not_json_answers_400(client: TestClient, ci: dict[str, str]) -> None:
    """A form-encoded body is refused with INVALID_REQUEST."""
    response = client.post(
        "/api/v1/status", data={"app": "Planning", "domain": "Actuals", "status": "OK"}, headers=ci
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"
    assert "Content-Type: application/json" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/x-www-form-urlencoded",
        "text/plain",
        "text/plain; charset=utf-8",
        "application/json; charset=utf-8",
        "application/merge-patch+json",
        "application/octet-stream",
    ],
    ids=["none", "form", "text", "text-utf8", "json-utf8", "plus-json", "octet-stream"],
)
def test_a_json_body_is_accepted_whatever_its_content_type(
    client: TestClient, ci: dict[str, str], content_type: str | None
) -> None:
    """A JSON body without Content-Type, or labelled as a form or text (``curl -d``), is JSON."""
    headers = {**ci, **({"Content-Type": content_type} if content_type else {})}
    body = {"app": "Planning", "domain": "Budget", "status": "Warning", "message": "late"}
    response = client.post("/api/v1/status", content=json.dumps(body), headers=headers)
    assert response.request.headers.get("content-type") == content_type
    assert response.status_code == 200, response.text
    assert (response.json()["data"]["status"], response.json()["data"]["message"]) == (
        "Warning",
        "late",
    )
    batch = {"updates": [{"app": "FCCS", "domain": "Actuals", "status": "OK"}]}
    response = client.post("/api/v1/status/batch", content=json.dumps(batch), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["status"] == "OK"


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
@pytest.mark.parametrize("content", [b"{", b"app=Planning&domain=Actuals&status=OK"])
def test_malformed_json_is_refused_whatever_its_content_type(
    client: TestClient, ci: dict[str, str], content_type: str | None, content: bytes
) -> None:
    """Parsing every body as JSON still answers 400 INVALID_REQUEST for one that is not."""
    headers = {**ci, **({"Content-Type": content_type} if content_type else {})}
    response = client.post("/api/v1/status", content=content, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert "not valid JSON" in error["message"]


def test_null_message_and_jobs_mean_none(client: TestClient, ci: dict[str, str]) -> None:
    """``"message": null`` and ``"jobs": null`` are the defaults, in single and batch updates."""
    tracked = {
        "app": "Planning",
        "domain": "Forecast",
        "status": "Loading",
        "jobs": [{"server": "planning", "job_id": "7"}],
    }
    assert client.post("/api/v1/status", json=tracked, headers=ci).status_code == 200
    body = {"app": "Planning", "domain": "Forecast", "status": "OK", "message": None, "jobs": None}
    response = client.post("/api/v1/status", json=body, headers=ci)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["status"], data["message"], data["jobs"]) == ("OK", "", [])
    batch = {"updates": [{**body, "domain": "Budget", "status": "Error"}]}
    response = client.post("/api/v1/status/batch", json=batch, headers=ci)
    assert response.status_code == 200, response.text
    item = response.json()["data"][0]
    assert (item["domain"], item["message"], item["jobs"]) == ("Budget", "", [])


def test_unknown_paths_and_methods_answer_in_the_error_shape(
    client: TestClient, ci: dict[str, str]
) -> None:
    """404 and 405 use the same error shape."""
    missing = client.get("/api/v1/nothing", headers=ci)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")
    wrong = client.delete("/api/v1/status", headers=ci)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
NAMES = st.sampled_from(["Planning", "fccs", "ARCS", "Actuals", "nope", ""]) | JSON
UPDATES = st.fixed_dictionaries(
    {"app": NAMES, "domain": NAMES, "status": st.sampled_from(["ok", "Error", "x"]) | JSON},
    optional={"message": JSON, "jobs": JSON, "extra": JSON},
)


@pytest.fixture
def unlimited(make_api: MakeApi, connect: Callable[[FastAPI], TestClient]) -> TestClient:
    """A client of an app whose rate limits never get in the way of many examples."""
    return connect(make_api(limits="status=100000/minute,batch=100000/minute"))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=UPDATES | JSON, batch=st.booleans())
def test_any_json_body_gets_200_or_400_never_500(
    unlimited: TestClient, ci: dict[str, str], body: object, batch: bool
) -> None:
    """Whatever JSON arrives, the answer is success or a 400 in the error shape."""
    path, payload = (
        ("/api/v1/status/batch", {"updates": [body]}) if batch else ("/api/v1/status", body)
    )
    response = unlimited.post(path, json=payload, headers=ci)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"]["code"] in {
            "INVALID_REQUEST",
            "INVALID_APP",
            "INVALID_DOMAIN",
            "INVALID_STATUS",
        }
