"""POST /status/batch: up to 50 updates, validated first, applied all or nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from bot.service import StatusService
from bot.store import JsonStore
from tests.api.conftest import CI_KEY, MakeApi, TestClient, bearer
from tests.conftest import MakeConfig

Connect = Callable[[FastAPI], TestClient]


def _update(domain: str, status: str = "OK", app: str = "Planning") -> dict[str, Any]:
    return {"app": app, "domain": domain, "status": status}


def _state(service: StatusService) -> tuple[int, list[dict[str, Any]], int]:
    """The board version, every record and the history length."""
    board = [r.to_json() for records in service.board().values() for r in records]
    return service.version, board, len(service.store.history())


def test_it_applies_a_batch_in_one_durable_write(
    client: TestClient, ci: dict[str, str], api_service: StatusService
) -> None:
    """Every update lands, in request order, with one new board version."""
    before = api_service.version
    updates = [
        _update("Actuals"),
        _update("Forecast", "loading"),
        _update("Actuals", "Error", "FCCS"),
    ]
    response = client.post("/api/v1/status/batch", json={"updates": updates}, headers=ci)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [(c["domain"], c["status"]) for c in data] == [
        ("Actuals", "OK"),
        ("Forecast", "Loading"),
        ("Actuals", "Error"),
    ]
    assert all(c["updated_by"] == "api:ci" for c in data)
    assert api_service.version == before + 1
    assert api_service.get("FCCS", "Actuals").status.value == "Error"


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (_update("Nope"), "INVALID_DOMAIN"),
        (_update("Actuals", app="Nope"), "INVALID_APP"),
        (_update("Budget", "Finished"), "INVALID_STATUS"),
        (_update("Actuals", "OK"), "INVALID_REQUEST"),  # the same domain twice
    ],
    ids=["domain", "app", "status", "duplicate"],
)
def test_one_bad_update_changes_nothing(
    client: TestClient,
    ci: dict[str, str],
    api_service: StatusService,
    bad: dict[str, Any],
    code: str,
) -> None:
    """A batch with one bad item is refused whole: no record, version or history changes."""
    client.post("/api/v1/status", json=_update("Budget", "Warning"), headers=ci)
    before = _state(api_service)
    updates = [_update("Actuals", "Error"), _update("Forecast", "Error"), bad]
    response = client.post("/api/v1/status/batch", json={"updates": updates}, headers=ci)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert _state(api_service) == before


def test_a_batch_with_a_malformed_item_changes_nothing(
    client: TestClient, ci: dict[str, str], api_service: StatusService
) -> None:
    """A type error in the last item is caught before anything is applied."""
    before = _state(api_service)
    updates = [_update("Actuals"), {"app": "Planning", "domain": "Forecast", "status": 3}]
    response = client.post("/api/v1/status/batch", json={"updates": updates}, headers=ci)
    assert response.status_code == 400
    assert "updates[1].status" in response.json()["error"]["message"]
    assert _state(api_service) == before


@pytest.mark.parametrize(
    "body",
    [
        {"updates": []},
        {"updates": [_update("Actuals")] * 51},
        {},
        {"updates": _update("Actuals")},
        {"updates": [_update("Actuals")], "dry_run": True},
    ],
    ids=["empty", "fifty-one", "missing", "not-a-list", "extra-field"],
)
def test_malformed_batches_answer_400(
    client: TestClient, ci: dict[str, str], body: dict[str, Any]
) -> None:
    """Empty, oversized, missing or misshapen batches get INVALID_REQUEST."""
    response = client.post("/api/v1/status/batch", json=body, headers=ci)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


def test_fifty_updates_are_accepted(
    make_config: MakeConfig, make_api: MakeApi, connect: Connect, tmp_path: Path
) -> None:
    """The limit is inclusive: a batch of exactly 50 updates is applied."""
    domains = [f"D{n}" for n in range(50)]
    config = make_config(f"apps:\n  Big: {{domains: [{', '.join(domains)}]}}\n")
    store = JsonStore(tmp_path / "big")
    try:
        client = connect(make_api(service=StatusService(config.estate.layout, store)))
        updates = [_update(d, "OK", "Big") for d in domains]
        response = client.post(
            "/api/v1/status/batch", json={"updates": updates}, headers=bearer(CI_KEY)
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["data"]) == 50
    finally:
        store.close()
