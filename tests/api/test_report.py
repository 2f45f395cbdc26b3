"""GET /api/v1/close/{period}/chart.png: the close report chart for the read key."""

from __future__ import annotations

from typing import Any

import pytest

from bot.store import JsonStore
from tests.api.conftest import OPS_KEY, MakeApi, TestClient, bearer
from tests.report.archives import october, put_archives, simple

CHART = "/api/v1/close/{}/chart.png"


@pytest.fixture
def archived(store: JsonStore) -> None:
    """Closes 2026-09 and 2026-10 are archived."""
    put_archives(store, {"2026-09": simple("2026-09", [4, 8]), "2026-10": october()})


@pytest.mark.usefixtures("archived")
def test_it_returns_the_chart_as_png(client: TestClient, ci: dict[str, str]) -> None:
    """200 with image/png, the PNG bytes and the rate-limit headers."""
    response = client.get(CHART.format("2026-10"), headers=ci)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert "X-RateLimit-Remaining" in response.headers


@pytest.mark.usefixtures("archived")
def test_it_is_the_same_image_for_the_same_archive(client: TestClient, ci: dict[str, str]) -> None:
    """Two requests return identical bytes (the picture is deterministic)."""
    first = client.get(CHART.format("2026-09"), headers=ci).content
    assert client.get(CHART.format("2026-09"), headers=bearer(OPS_KEY)).content == first


@pytest.mark.usefixtures("archived")
def test_it_needs_a_key(client: TestClient) -> None:
    """No key: 401 MISSING_AUTH; an unknown key: 403 INVALID_KEY; both as JSON."""
    missing = client.get(CHART.format("2026-10"))
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "MISSING_AUTH")
    wrong = client.get(CHART.format("2026-10"), headers=bearer("nope"))
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "INVALID_KEY")


@pytest.mark.usefixtures("archived")
def test_a_period_never_archived_is_404_naming_the_archived_ones(
    client: TestClient, ci: dict[str, str]
) -> None:
    """404 NOT_FOUND whose message lists every archived period."""
    response = client.get(CHART.format("2026-03"), headers=ci)
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "NOT_FOUND",
        "message": "No archived close for 2026-03. Archived periods: 2026-09, 2026-10.",
    }


def test_a_malformed_period_is_400(client: TestClient, ci: dict[str, str]) -> None:
    """A month 13 or a word is INVALID_REQUEST, never a 500."""
    for period in ("2026-13", "october"):
        response = client.get(CHART.format(period), headers=ci)
        assert response.status_code == 400, period
        assert response.json()["error"]["code"] == "INVALID_REQUEST"


@pytest.mark.usefixtures("archived")
def test_it_counts_against_the_read_limit(
    make_api: MakeApi, connect: Any, ci: dict[str, str]
) -> None:
    """With read=1/minute the second chart request is 429 with Retry-After."""
    http = connect(make_api(limits="read=1/minute"))
    assert http.get(CHART.format("2026-10"), headers=ci).status_code == 200
    limited = http.get(CHART.format("2026-10"), headers=ci)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"]


def test_it_is_documented_as_a_png_in_the_openapi_document(
    client: TestClient, ci: dict[str, str]
) -> None:
    """The operation names image/png for 200, a 404 model and the read limit group."""
    spec = client.get("/api/v1/openapi.json").json()
    operation = spec["paths"]["/api/v1/close/{period}/chart.png"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["image/png"]
    assert "404" in operation["responses"]
    assert operation["x-rate-limit-group"] == "read"
    assert operation["security"] == [{"apiKey": []}]
