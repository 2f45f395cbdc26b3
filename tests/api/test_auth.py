"""Authentication: bearer keys, checked before anything else (SPEC §7)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from bot.api.auth import KeyRing
from bot.api.errors import ApiError
from tests.api.conftest import CI_KEY, OPS_KEY, MakeApi, TestClient, bearer

SET_OK = {"app": "Planning", "domain": "Actuals", "status": "OK"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {CI_KEY}"},
        {"Authorization": CI_KEY},
        {"Authorization": f"Bearer {CI_KEY} extra"},
    ],
    ids=["absent", "empty", "no-token", "blank-token", "basic", "bare-key", "two-tokens"],
)
def test_it_answers_401_missing_auth_without_a_bearer_key(
    client: TestClient, headers: dict[str, str]
) -> None:
    """A missing or malformed Authorization header gets 401 MISSING_AUTH and a challenge."""
    response = client.post("/api/v1/status", json=SET_OK, headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "ok": False,
        "error": {"code": "MISSING_AUTH", "message": response.json()["error"]["message"]},
    }
    assert "Bearer" in response.json()["error"]["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_it_rejects_wrong_key_with_403(client: TestClient) -> None:
    """An unknown key gets 403 INVALID_KEY."""
    response = client.get("/api/v1/status", headers=bearer("not-a-key"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "INVALID_KEY"


def test_it_rejects_a_key_that_only_shares_a_prefix(client: TestClient) -> None:
    """A configured key with extra characters, or cut short, is not accepted."""
    for near in (CI_KEY + "x", CI_KEY[:-1], CI_KEY.upper()):
        assert client.get("/api/v1/status", headers=bearer(near)).status_code == 403


def test_it_checks_auth_before_the_body(client: TestClient) -> None:
    """Without a key a malformed body still gets 401, not 400."""
    response = client.post(
        "/api/v1/status",
        content=b'{"app": [[[',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "MISSING_AUTH"


def test_it_checks_the_key_before_the_body(client: TestClient) -> None:
    """With a wrong key a malformed body gets 403, not 400."""
    response = client.post(
        "/api/v1/status/batch",
        content=b"not json",
        headers={**bearer("wrong"), "Content-Type": "application/json"},
    )
    assert response.status_code == 403


def test_it_checks_auth_before_the_body_size(client: TestClient) -> None:
    """Without a key an oversized body gets 401, not 413."""
    response = client.post("/api/v1/status", content=b"x" * 100_000)
    assert response.status_code == 401


def test_it_records_the_key_name_as_the_author(client: TestClient) -> None:
    """A change made with the ``ops`` key is recorded as ``api:ops``."""
    response = client.post("/api/v1/status", json=SET_OK, headers=bearer(OPS_KEY))
    assert response.status_code == 200
    assert response.json()["data"]["updated_by"] == "api:ops"
    read = client.get("/api/v1/status/Planning/Actuals", headers=bearer(CI_KEY))
    assert read.json()["data"]["updated_by"] == "api:ops"


@pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/history"])
def test_it_needs_a_key_for_reads(client: TestClient, path: str) -> None:
    """Reads are keyed too."""
    assert client.get(path).status_code == 401


def test_with_no_keys_configured_writes_answer_401(
    make_api: MakeApi, connect: Callable[[FastAPI], TestClient]
) -> None:
    """No EPMPULSE_API_KEYS: every keyed endpoint answers 401, whatever is presented."""
    client = connect(make_api(keys={}))
    for headers in ({}, bearer(CI_KEY)):
        response = client.post("/api/v1/status", json=SET_OK, headers=headers)
        assert response.status_code == 401
        assert "EPMPULSE_API_KEYS" in response.json()["error"]["message"]
    assert client.post("/api/v1/status/batch", json={"updates": [SET_OK]}).status_code == 401


def test_open_endpoints_need_no_key(client: TestClient) -> None:
    """Health, metrics and the OpenAPI document are open."""
    for path in ("/api/v1/health", "/metrics", "/api/v1/openapi.json", "/api/v1/docs"):
        assert client.get(path).status_code == 200, path


def test_keys_never_reach_the_log(
    client: TestClient, ci: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Neither a valid nor a rejected key appears in any log line; the name does."""
    caplog.set_level(logging.DEBUG)
    client.post("/api/v1/status", json=SET_OK, headers=ci)
    client.get("/api/v1/status", headers=bearer("rejected-secret-value"))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert CI_KEY not in text
    assert "rejected-secret-value" not in text
    assert "key=ci" in text


def test_the_key_ring_compares_against_every_key() -> None:
    """Identification finds whichever key matches, first or last, and never leaks it."""
    ring = KeyRing({"a": SecretStr("key-a"), "b": SecretStr("key-b")})
    assert ring.identify("Bearer key-a") == "a"
    assert ring.identify("bearer   key-b ") == "b"
    with pytest.raises(ApiError) as refused:
        ring.identify("Bearer key-c")
    assert refused.value.status == 403
    assert "key-c" not in refused.value.message
