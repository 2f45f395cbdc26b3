"""GET /api/v1/close and /close/{period}; records carry due_at, overdue and waiting_on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.close.archive import archive_key
from bot.service import StatusService
from bot.store import JsonStore
from tests.api.conftest import CI_KEY, MakeApi, bearer
from tests.close.conftest import CLOSE_YAML
from tests.conftest import MakeConfig

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # WD3: Planning/Actuals (WD2 12:00) is past due
ARCHIVE = {
    "period": "2026-10",
    "domains": [
        {
            "app": "Planning",
            "domain": "Actuals",
            "status": "OK",
            "due_at": "2026-11-03T12:00:00Z",
            "ok_at": "2026-11-03T14:00:00Z",
            "late": True,
        }
    ],
}


@pytest.fixture
def close_client(
    make_config: MakeConfig,
    make_api: MakeApi,
    connect: Callable[[FastAPI], TestClient],
) -> Iterator[tuple[TestClient, StatusService]]:
    """An API over a close estate at NOW, with one archive kept."""
    config = make_config(CLOSE_YAML.format(reset="true"))
    store = JsonStore(config.settings.data_dir)
    service = StatusService(config.estate.layout, store, clock=lambda: NOW)
    service.set_meta(archive_key("2026-10"), ARCHIVE)
    yield connect(make_api(service=service)), service
    store.close()


def test_the_live_close_has_the_spec_fields(
    close_client: tuple[TestClient, StatusService],
) -> None:
    """period, timezone, working_day, total, ok and per domain due_at/overdue/waiting_on."""
    client, service = close_client
    service.set("ARCS", "Reconciliation", "OK", by="system")
    response = client.get("/api/v1/close", headers=bearer(CI_KEY))
    assert response.status_code == 200
    data = response.json()["data"]
    assert {k: v for k, v in data.items() if k != "domains"} == {
        "period": "2026-11",
        "timezone": "Europe/London",
        "working_day": 3,
        "total": 6,
        "ok": 1,
        "pending_starts": [],  # no job starts by itself here (SPEC §17)
        "holds": [],
    }
    domains = {f"{d['app']}/{d['domain']}": d for d in data["domains"]}
    assert domains["Planning/Actuals"] == {
        "app": "Planning",
        "domain": "Actuals",
        "status": "Pending",
        "due_at": "2026-12-02T12:00:00Z",
        "overdue": True,
        "waiting_on": [],
    }
    assert domains["FCCS/Consolidation"]["overdue"] is False
    assert domains["FCCS/Consolidation"]["waiting_on"] == ["FCCS/Actuals"]


def test_an_archived_close_is_served(close_client: tuple[TestClient, StatusService]) -> None:
    """GET /close/{period} answers the archive as kept (approved_by null unless signed off)."""
    client, _ = close_client
    response = client.get("/api/v1/close/2026-10", headers=bearer(CI_KEY))
    assert response.status_code == 200
    domains = [{**d, "approved_by": None} for d in ARCHIVE["domains"]]  # type: ignore[attr-defined]
    assert response.json() == {"ok": True, "data": {**ARCHIVE, "domains": domains}}


@pytest.mark.parametrize(
    ("period", "status", "code"),
    [("2026-09", 404, "NOT_FOUND"), ("2026-13", 400, "INVALID_REQUEST"), ("Oct", 400, None)],
)
def test_an_unknown_or_malformed_period_is_refused(
    close_client: tuple[TestClient, StatusService], period: str, status: int, code: str | None
) -> None:
    """Never archived: 404 NOT_FOUND naming the archived ones; malformed: 400."""
    client, _ = close_client
    response = client.get(f"/api/v1/close/{period}", headers=bearer(CI_KEY))
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == (code or "INVALID_REQUEST")
    if status == 404:
        assert "archived: 2026-10" in error["message"]


def test_the_close_needs_a_key(close_client: tuple[TestClient, StatusService]) -> None:
    """Both close endpoints are keyed like every read."""
    client, _ = close_client
    assert client.get("/api/v1/close").json()["error"]["code"] == "MISSING_AUTH"
    assert client.get("/api/v1/close/2026-10").status_code == 401


def test_records_carry_due_at_overdue_and_waiting_on(
    close_client: tuple[TestClient, StatusService],
) -> None:
    """GET /status/{app}/{domain} and GET /status/{app} include the close fields."""
    client, _ = close_client
    record = client.get("/api/v1/status/planning/actuals", headers=bearer(CI_KEY)).json()["data"]
    assert (record["due_at"], record["overdue"], record["waiting_on"]) == (
        "2026-12-02T12:00:00Z",
        True,
        [],
    )
    app = client.get("/api/v1/status/FCCS", headers=bearer(CI_KEY)).json()["data"]
    assert app["domains"][0]["waiting_on"] == ["Planning/Actuals"]


def test_a_set_on_a_waiting_domain_succeeds_and_names_the_wait(
    close_client: tuple[TestClient, StatusService],
) -> None:
    """POST /status on a domain whose upstream is not OK is applied; the answer says so."""
    client, _ = close_client
    response = client.post(
        "/api/v1/status",
        headers=bearer(CI_KEY),
        json={"app": "FCCS", "domain": "Actuals", "status": "Loading"},
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "Loading"
    assert data["waiting_on"] == ["Planning/Actuals"]
