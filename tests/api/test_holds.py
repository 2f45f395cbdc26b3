"""``POST /api/v1/holds`` and the conductor's lists in ``GET /api/v1/close`` (SPEC §17)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.api import create_api
from bot.close.conductor import HOLDS_META
from bot.epm.launch import JobLauncher
from bot.metrics import Metrics
from bot.runtime import Check
from bot.sandbox.epm import EpmSandbox
from bot.service import StatusService
from tests.api.conftest import CI_KEY, KEYS, TestClient, bearer
from tests.close.conducting import START, ClockedStore, estate_yaml
from tests.conftest import FakeNow, MakeConfig


class HoldsApi:
    """The API over the chained conductor estate, on a fixed clock."""

    def __init__(self, http: TestClient, service: StatusService) -> None:
        self.http = http
        self.service = service

    def hold(self, body: Any, key: str | None = CI_KEY) -> tuple[int, dict[str, Any]]:
        """POST /holds; the status code and JSON body."""
        response = self.http.post("/api/v1/holds", json=body, headers=bearer(key) if key else {})
        return response.status_code, response.json()

    def close(self) -> dict[str, Any]:
        """GET /close data."""
        response = self.http.get("/api/v1/close", headers=bearer(CI_KEY))
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data


@pytest.fixture
def api(make_config: MakeConfig) -> Iterator[HoldsApi]:
    """The API with the conductor estate (no EPM call is made by these requests)."""
    with EpmSandbox(username="svc_epm", password="basic-password-9c1d") as epm:
        config = make_config(estate_yaml(epm))
    clock = FakeNow(START)
    store = ClockedStore(config.settings.data_dir, clock)
    service = StatusService(config.estate.layout, store, clock=clock)
    app = create_api(
        service,
        api_keys={k: SecretStr(v) for k, v in KEYS.items()},
        metrics=Metrics(),
        health=lambda: {"store": Check(True, "ok")},
        launcher=JobLauncher(service, {}, estate=config.estate),  # the job specs come with it
    )
    with TestClient(app, raise_server_exceptions=False) as http:
        yield HoldsApi(http, service)
    store.close()


def test_a_hold_and_a_release_answer_the_state_and_are_stored(api: HoldsApi) -> None:
    """hold: true then hold: false, by api:ci; names are matched case-insensitively."""
    status, body = api.hold({"app": "fccs", "domain": "consolidation"})
    assert status == 200, body
    assert body["data"] == {
        "app": "FCCS",
        "domain": "Consolidation",
        "held": True,
        "changed": True,
        "period": "2026-11",
    }
    assert api.service.meta(HOLDS_META)["held"]["FCCS/Consolidation"]["by"] == "api:ci"
    status, body = api.hold({"app": "FCCS", "domain": "Consolidation", "hold": False})
    assert (status, body["data"]["held"], body["data"]["changed"]) == (200, False, True)
    assert api.service.meta(HOLDS_META)["held"] == {}


def test_a_domain_that_does_not_start_by_itself_is_refused_naming_those_that_do(
    api: HoldsApi,
) -> None:
    """400 INVALID_DOMAIN naming the auto-started domains; nothing stored."""
    status, body = api.hold({"app": "Planning", "domain": "Actuals"})
    assert (status, body["error"]["code"]) == (400, "INVALID_DOMAIN")
    assert "FCCS/Actuals, FCCS/Consolidation, FCCS/Reporting" in body["error"]["message"]
    assert api.service.meta(HOLDS_META) is None


def test_a_hold_needs_a_key(api: HoldsApi) -> None:
    """401 without a key; nothing stored."""
    status, body = api.hold({"app": "FCCS", "domain": "Actuals"}, key=None)
    assert (status, body["error"]["code"]) == (401, "MISSING_AUTH")
    assert api.service.meta(HOLDS_META) is None


def test_get_close_lists_pending_starts_and_holds(api: HoldsApi) -> None:
    """Upstream OK at 09:00: FCCS/Actuals starts at 09:02; a hold set ahead is listed."""
    api.hold({"app": "FCCS", "domain": "Reporting"})
    api.service.set("Planning", "Actuals", "OK", by="slack:U1")
    data = api.close()
    assert data["pending_starts"] == [
        {
            "app": "FCCS",
            "domain": "Actuals",
            "job": "Load Actuals",
            "due_at": "2026-12-01T09:02:00Z",
            "held": False,
        }
    ]
    assert data["holds"] == [
        {"app": "FCCS", "domain": "Reporting", "by": "api:ci", "at": "2026-12-01T09:00:00Z"}
    ]
