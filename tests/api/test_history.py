"""GET /history: the last changes of everything, one app or one domain, newest first."""

from __future__ import annotations

import pytest

from tests.api.conftest import TestClient


@pytest.fixture
def changed(client: TestClient, ci: dict[str, str]) -> None:
    """Planning Actuals Loading -> OK, then FCCS Actuals Error."""
    for app, domain, status in [
        ("Planning", "Actuals", "Loading"),
        ("Planning", "Actuals", "OK"),
        ("FCCS", "Actuals", "Error"),
    ]:
        body = {"app": app, "domain": domain, "status": status, "message": f"to {status}"}
        assert client.post("/api/v1/status", json=body, headers=ci).status_code == 200


@pytest.mark.usefixtures("changed")
def test_it_lists_one_domain_newest_first(client: TestClient, ci: dict[str, str]) -> None:
    """app + domain gives that domain's changes, newest first."""
    response = client.get(
        "/api/v1/history", params={"app": "planning", "domain": "actuals"}, headers=ci
    )
    assert response.status_code == 200
    entries = response.json()["data"]
    assert [(e["old_status"], e["new_status"]) for e in entries] == [
        ("Loading", "OK"),
        ("Pending", "Loading"),
    ]
    assert entries[0]["by"] == "api:ci"
    assert entries[0]["at"].endswith("Z")


@pytest.mark.usefixtures("changed")
def test_it_lists_one_app_or_everything(client: TestClient, ci: dict[str, str]) -> None:
    """app alone filters by app; no filter gives every change; limit keeps the newest."""
    fccs = client.get("/api/v1/history", params={"app": "FCCS"}, headers=ci).json()["data"]
    assert [e["app"] for e in fccs] == ["FCCS"]
    everything = client.get("/api/v1/history", headers=ci).json()["data"]
    assert [e["new_status"] for e in everything] == ["Error", "OK", "Loading"]
    newest = client.get("/api/v1/history", params={"limit": 1}, headers=ci).json()["data"]
    assert [e["new_status"] for e in newest] == ["Error"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"domain": "Actuals"}, "INVALID_REQUEST"),
        ({"app": "Nope"}, "INVALID_APP"),
        ({"app": "Planning", "domain": "Nope"}, "INVALID_DOMAIN"),
        ({"limit": "0"}, "INVALID_REQUEST"),
        ({"limit": "ten"}, "INVALID_REQUEST"),
        ({"limit": "1001"}, "INVALID_REQUEST"),
    ],
)
def test_bad_filters_answer_400(
    client: TestClient, ci: dict[str, str], params: dict[str, str], code: str
) -> None:
    """A domain without an app, unknown names and bad limits are refused."""
    response = client.get("/api/v1/history", params=params, headers=ci)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("path", ["/api/v1/history?lmit=5", "/api/v1/status?app=Planning"])
def test_unknown_query_parameters_answer_400(
    client: TestClient, ci: dict[str, str], path: str
) -> None:
    """A misspelt or unsupported query parameter is refused, naming the accepted ones."""
    response = client.get(path, headers=ci)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert "Unknown query parameter" in error["message"]
