"""GET /export: the change log streamed as CSV or JSON lines (SPEC §12)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.api.conftest import TestClient


@pytest.fixture
def changed(client: TestClient, ci: dict[str, str]) -> None:
    """Planning Actuals Loading (with a hostile message) then OK."""
    for status, message in [("Loading", 'a "quoted", multi\nline ü'), ("OK", "")]:
        body = {"app": "Planning", "domain": "Actuals", "status": status, "message": message}
        assert client.post("/api/v1/status", json=body, headers=ci).status_code == 200


@pytest.mark.usefixtures("changed")
def test_it_streams_csv_by_default(client: TestClient, ci: dict[str, str]) -> None:
    """The default is text/csv with the header and one row per change, oldest first."""
    response = client.get("/api/v1/export", headers=ci)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["x-ratelimit-limit"]
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    assert rows[0] == [
        *("at", "app", "domain", "old_status", "new_status", "message", "by", "approved_by")
    ]
    assert [(r[4], r[5], r[6]) for r in rows[1:]] == [
        ("Loading", 'a "quoted", multi\nline ü', "api:ci"),
        ("OK", "", "api:ci"),
    ]


@pytest.mark.usefixtures("changed")
def test_it_streams_json_lines_on_request(client: TestClient, ci: dict[str, str]) -> None:
    """format=jsonl answers application/x-ndjson, one history entry per line."""
    response = client.get("/api/v1/export", params={"format": "jsonl"}, headers=ci)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    entries = [json.loads(line) for line in response.text.splitlines()]
    assert [e["new_status"] for e in entries] == ["Loading", "OK"]
    assert set(entries[0]) == {
        *("at", "app", "domain", "old_status", "new_status", "message", "by", "approved_by")
    }


@pytest.mark.usefixtures("changed")
def test_a_window_after_every_change_gives_the_header_only(
    client: TestClient, ci: dict[str, str]
) -> None:
    """since is inclusive: a since in the future selects nothing."""
    response = client.get("/api/v1/export", params={"since": "2999-01-01T00:00:00Z"}, headers=ci)
    assert response.status_code == 200
    assert response.text == "at,app,domain,old_status,new_status,message,by,approved_by\r\n"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"since": "soon"}, "since: 'soon' is not an ISO 8601 instant"),
        ({"until": "2026-02-30"}, "until: '2026-02-30' is not an ISO 8601 instant"),
        # Before year 1 once in UTC: refused as input, never a 500.
        ({"since": "0001-01-01T00:00:00+01:00"}, "is not an ISO 8601 instant"),
        ({"since": "2026-11-02", "until": "2026-11-01"}, "until must be later than since"),
        ({"format": "xml"}, "csv"),
    ],
)
def test_bad_parameters_answer_400_invalid_request(
    client: TestClient, ci: dict[str, str], params: dict[str, str], fragment: str
) -> None:
    """A malformed instant, an empty window or an unknown format is a 400 naming the problem."""
    response = client.get("/api/v1/export", params=params, headers=ci)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert fragment in error["message"]


def test_it_needs_a_key(client: TestClient) -> None:
    """Without a bearer key the export answers 401 MISSING_AUTH."""
    response = client.get("/api/v1/export")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "MISSING_AUTH"


def test_it_is_in_the_openapi_document_with_both_media_types(client: TestClient) -> None:
    """The OpenAPI document lists /export with its parameters, both media types and the key."""
    operation = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/export"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"since", "until", "format"}
    assert set(operation["responses"]["200"]["content"]) == {"text/csv", "application/x-ndjson"}
    assert operation["security"] == [{"apiKey": []}]
    assert operation["x-rate-limit-group"] == "read"
