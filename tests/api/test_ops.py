"""Health, metrics, the request log and the error boundary."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from bot.errors import StoreError
from bot.leader import instance_name
from bot.runtime import Check
from bot.service import StatusService
from bot.store import JsonStore, Mutation
from tests.api.conftest import MakeApi, TestClient

SET_OK = {"app": "Planning", "domain": "Actuals", "status": "OK"}
Connect = Callable[[FastAPI], TestClient]


def test_health_is_200_when_every_check_passes(client: TestClient) -> None:
    """Every check is reported with its detail; no key is needed."""
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "data": {
            "checks": {
                "store": {"ok": True, "detail": "board version 1"},
                "scheduler": {"ok": True, "detail": "running"},
            },
            "leader": True,
            "instance": instance_name(),
        },
    }


def test_health_is_503_when_a_check_fails(client: TestClient, checks: dict[str, Check]) -> None:
    """One failing check turns the answer to 503 UNHEALTHY naming it, with every check."""
    checks["slack"] = Check(False, "socket disconnected")
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["code"] == "UNHEALTHY"
    assert "slack" in body["error"]["message"]
    assert body["data"]["checks"]["slack"] == {"ok": False, "detail": "socket disconnected"}
    assert body["data"]["checks"]["store"]["ok"] is True


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_count_requests_by_route_template_and_code(
    client: TestClient, ci: dict[str, str]
) -> None:
    """/metrics parses as Prometheus text and counts API requests by template and code."""
    client.post("/api/v1/status", json=SET_OK, headers=ci)
    client.get("/api/v1/status/Planning/Actuals", headers=ci)
    client.get("/api/v1/status/FCCS/Actuals", headers=ci)
    client.get("/api/v1/status/Nope", headers=ci)
    client.get("/api/v1/status")
    client.get("/api/v1/no/such/path")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)

    def requests(route: str, code: str) -> float:
        key = ("epmpulse_api_requests_total", (("code", code), ("route", route)))
        return samples.get(key, 0.0)

    assert requests("/api/v1/status", "200") == 1
    assert requests("/api/v1/status/{app}/{domain}", "200") == 2
    assert requests("/api/v1/status/{app}", "400") == 1
    assert requests("/api/v1/status", "401") == 1
    assert requests("unmatched", "404") == 1
    updates = ("epmpulse_updates_total", (("result", "ok"), ("source", "api")))
    assert samples[updates] == 1


def test_each_request_is_logged_once_without_the_key(
    client: TestClient, ci: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """One line per request: method, route template, code, duration and key name."""
    caplog.set_level(logging.INFO, logger="bot.api")
    client.get("/api/v1/status/Planning", headers=ci)
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.api.observe"]
    assert len(lines) == 1
    method, route, code, duration, key = lines[0].split()
    assert (method, route, code, key) == ("GET", "/api/v1/status/{app}", "200", "key=ci")
    assert duration.endswith("ms")


class _BrokenService(StatusService):
    """A service with a bug: every read raises."""

    def board(self) -> dict[str, list[Any]]:
        raise RuntimeError("a bug")


def test_a_bug_answers_500_in_the_error_shape_and_is_logged(
    make_api: MakeApi,
    connect: Connect,
    api_service: StatusService,
    ci: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected exception is logged with its traceback and answered 500 INTERNAL_ERROR."""
    broken = _BrokenService(api_service.layout, api_service.store)
    client = connect(make_api(service=broken))
    response = client.get("/api/v1/status", headers=ci)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failures
    assert failures[0].exc_info is not None


class _FailingStore(JsonStore):
    """A store whose disk refuses every write."""

    def commit(self, mutation: Mutation[Any]) -> Any:
        raise StoreError("disk full")


def test_a_store_failure_answers_503_and_changes_nothing(
    make_api: MakeApi, connect: Connect, tmp_path: Path, ci: dict[str, str]
) -> None:
    """When the store cannot write, the client gets 503 STORE_UNAVAILABLE."""
    store = _FailingStore(tmp_path / "failing")
    try:
        client = connect(make_api(store=store))
        response = client.post("/api/v1/status", json=SET_OK, headers=ci)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "STORE_UNAVAILABLE"
        assert ("Planning", "Actuals") not in store.snapshot().records
    finally:
        store.close()
