"""Fixtures for the REST API: the app over a temp store, a real HTTP client, keys."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from bot.api import create_api
from bot.api.ratelimit import RateLimits
from bot.config import Config
from bot.metrics import Metrics
from bot.runtime import Check
from bot.service import StatusService
from bot.store import JsonStore, Store

with warnings.catch_warnings():
    # Starlette nudges towards a successor of httpx; the TestClient itself works the same.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

CI_KEY = "ci-0123456789abcdef"
OPS_KEY = "ops-fedcba9876543210"
KEYS = {"ci": CI_KEY, "ops": OPS_KEY}

MakeApi = Callable[..., FastAPI]


def bearer(key: str) -> dict[str, str]:
    """The Authorization header for ``key``."""
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def metrics() -> Metrics:
    """A fresh metrics registry."""
    return Metrics()


@pytest.fixture
def checks() -> dict[str, Check]:
    """The health checks the API reports; tests change them."""
    return {"store": Check(True, "board version 1"), "scheduler": Check(True, "running")}


@pytest.fixture
def api_service(config: Config, store: JsonStore, metrics: Metrics) -> StatusService:
    """The status service the API writes through, counting updates in ``metrics``."""
    return StatusService(config.estate.layout, store, metrics=metrics)


@pytest.fixture
def make_api(
    config: Config, api_service: StatusService, metrics: Metrics, checks: dict[str, Check]
) -> MakeApi:
    """Build the API app; keyword arguments override keys, limits, store or service."""

    def make(
        *,
        keys: dict[str, str] | None = None,
        limits: str = "",
        store: Store | None = None,
        service: StatusService | None = None,
        **extra: Any,
    ) -> FastAPI:
        if service is None:
            service = (
                api_service
                if store is None
                else StatusService(config.estate.layout, store, metrics=metrics)
            )
        return create_api(
            service,
            api_keys={k: SecretStr(v) for k, v in (KEYS if keys is None else keys).items()},
            metrics=metrics,
            health=lambda: dict(checks),
            rate_limits=RateLimits.parse(limits),
            **extra,
        )

    return make


@pytest.fixture
def client(make_api: MakeApi) -> Iterator[TestClient]:
    """A real HTTP client against the API app with the default limits."""
    with TestClient(make_api(), raise_server_exceptions=False) as http:
        yield http


@pytest.fixture
def connect() -> Iterator[Callable[[FastAPI], TestClient]]:
    """Open a client to another app built in the test; closed afterwards."""
    opened: list[TestClient] = []

    def open_client(app: FastAPI) -> TestClient:
        http = TestClient(app, raise_server_exceptions=False)
        http.__enter__()
        opened.append(http)
        return http

    yield open_client
    for http in opened:
        http.__exit__(None, None, None)


@pytest.fixture
def ci() -> dict[str, str]:
    """Headers authenticating as the key named ``ci``."""
    return bearer(CI_KEY)
