"""The API part of ``epmpulse run``: a real uvicorn on loopback."""

from __future__ import annotations

import http.client
import json
import logging
import socket
from collections.abc import Iterator

import httpx
import pytest
import requests

from bot.api import ApiPart
from bot.errors import ConfigError
from bot.runtime import Check, Runtime
from tests.api.conftest import CI_KEY, MakeApi, bearer
from tests.conftest import MakeConfig


@pytest.fixture
def part(make_api: MakeApi) -> Iterator[ApiPart]:
    """The API served by uvicorn on 127.0.0.1 and a free port; stopped afterwards."""
    served = ApiPart(make_api(), "127.0.0.1", 0, graceful_seconds=1)
    served.start()
    yield served
    served.stop()


def test_it_serves_over_real_http_with_keep_alive(part: ApiPart) -> None:
    """Writes, reads and health work over one keep-alive connection."""
    assert part.port != 0
    with httpx.Client(base_url=part.url, timeout=5) as http:
        body = {"app": "Planning", "domain": "Budget", "status": "Warning", "message": "late"}
        written = http.post("/api/v1/status", json=body, headers=bearer(CI_KEY))
        assert written.status_code == 200
        assert written.json()["data"]["updated_by"] == "api:ci"
        read = http.get("/api/v1/status/Planning/Budget", headers=bearer(CI_KEY))
        assert read.json()["data"]["message"] == "late"
        assert http.get("/api/v1/health").status_code == 200
        assert http.post("/api/v1/status", json=body).status_code == 401
    assert part.health().ok
    assert "serving" in part.health().detail


def test_scripts_may_send_json_without_a_json_content_type(part: ApiPart) -> None:
    """``requests.post(data=json.dumps(…))`` (no Content-Type) and ``curl -d`` (form) work."""
    body = {"app": "FCCS", "domain": "Actuals", "status": "Loading", "message": None}
    plain = requests.post(
        f"{part.url}/api/v1/status", data=json.dumps(body), headers=bearer(CI_KEY), timeout=5
    )
    assert "content-type" not in {name.lower() for name in plain.request.headers}
    assert plain.status_code == 200, plain.text
    assert (plain.json()["data"]["status"], plain.json()["data"]["message"]) == ("Loading", "")

    curl_like = http.client.HTTPConnection("127.0.0.1", part.port, timeout=5)
    try:
        curl_like.request(
            "POST",
            "/api/v1/status",
            body=json.dumps({**body, "status": "OK"}),
            headers={**bearer(CI_KEY), "Content-Type": "application/x-www-form-urlencoded"},
        )
        answer = curl_like.getresponse()
        assert answer.status == 200
        assert json.loads(answer.read())["data"]["previous_status"] == "Loading"
    finally:
        curl_like.close()


def test_uvicorn_serves_with_uvloop_and_httptools(part: ApiPart) -> None:
    """With uvicorn[standard] installed the fast event loop and HTTP parser are the ones used."""
    assert part.engine() == "uvloop + httptools"


def test_a_taken_port_stops_start_up_with_a_clear_message(part: ApiPart, make_api: MakeApi) -> None:
    """Starting on a port that is in use fails at once, naming the address and the cause."""
    second = ApiPart(make_api(), "127.0.0.1", part.port)
    with pytest.raises(ConfigError) as error:
        second.start()
    message = str(error.value)
    assert f"127.0.0.1:{part.port}" in message
    assert "already in use" in message
    assert second.health() == Check(False, "not started")  # failed at bind: no server began


def test_stop_shuts_uvicorn_down_without_waiting_for_an_idle_connection(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    """An idle keep-alive client does not hold stop() up: uvicorn ends by itself, never
    forced, the port is closed and health says so."""
    caplog.set_level(logging.WARNING, logger="bot.api.server")
    served = ApiPart(make_api(), "127.0.0.1", 0, graceful_seconds=1)
    served.start()
    idle = httpx.Client(base_url=served.url, timeout=5)  # an idle keep-alive connection
    try:
        assert idle.get("/metrics").status_code == 200
        served.stop()
    finally:
        idle.close()
    assert "did not stop in time" not in caplog.text
    assert not served.health().ok
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", served.port), timeout=1):
        pass


def test_the_runtime_serves_its_own_health_checks(make_config: MakeConfig) -> None:
    """ApiPart.from_runtime reports the runtime's store, scheduler and its own check."""
    runtime = Runtime(make_config(EPMPULSE_HTTP_PORT="0", EPMPULSE_API_KEYS=f"ci:{CI_KEY}"))
    part = ApiPart.from_runtime(runtime)
    runtime.add(part)
    runtime.start()
    try:
        with httpx.Client(base_url=part.url, timeout=5) as http:
            healthy = http.get("/api/v1/health")
            assert healthy.status_code == 200
            checks = healthy.json()["data"]["checks"]
            assert set(checks) == {"store", "scheduler", "api"}
            assert checks["api"]["ok"] is True
            runtime.scheduler.shutdown(wait=False)
            sick = http.get("/api/v1/health")
            assert sick.status_code == 503
            assert sick.json()["data"]["checks"]["scheduler"]["ok"] is False
    finally:
        runtime.stop()
    assert not part.health().ok
