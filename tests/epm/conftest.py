"""Fixtures for the EPM tests: started sandboxes, configs pointing at them, clients, a clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Config
from bot.epm.client import EpmClient
from bot.estate import EpmServer
from bot.sandbox.epm import EpmSandbox
from bot.service import StatusService
from bot.store import JsonStore
from tests.conftest import MakeConfig

CLIENT_ID = "epmpulse"
CLIENT_SECRET = "client-secret-value-7f3a"


@pytest.fixture
def epm() -> Iterator[EpmSandbox]:
    """A started EPM sandbox with one registered OAuth client."""
    with EpmSandbox(username="svc_epm", password="basic-password-9c1d") as sandbox:
        sandbox.register_client(CLIENT_ID, CLIENT_SECRET)
        yield sandbox


@pytest.fixture
def three_epms() -> Iterator[list[EpmSandbox]]:
    """Three started sandboxes: planning, data_integration and arcs servers of one estate."""
    sandboxes = [EpmSandbox(username="svc_epm", password="basic-password-9c1d") for _ in range(3)]
    for sandbox in sandboxes:
        sandbox.start()
        sandbox.register_client(CLIENT_ID, CLIENT_SECRET)
    yield sandboxes
    for sandbox in sandboxes:
        sandbox.stop()


def server_doc(
    sandbox: EpmSandbox, kind: str = "planning", auth: str = "basic", **extra: Any
) -> dict[str, Any]:
    """A YAML ``epm.servers`` entry pointing at ``sandbox`` with the chosen auth mode."""
    doc: dict[str, Any] = {"kind": kind, "base_url": sandbox.base_url, "timeout_seconds": 5}
    if kind in ("planning", "fccs"):
        doc["application"] = "Vision"
    if auth == "basic":
        doc["auth"] = {"type": "basic", "username": sandbox.username, "password": sandbox.password}
    elif auth == "oauth_refresh_token":
        doc["auth"] = {
            "type": auth,
            "token_url": sandbox.token_url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": sandbox.issue_refresh_token(CLIENT_ID),
        }
    else:
        doc["auth"] = {
            "type": auth,
            "token_url": sandbox.token_url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "urn:opc:serviceInstanceID=epm",
        }
    doc.update(extra)
    return doc


def server(sandbox: EpmSandbox, kind: str = "planning", auth: str = "basic") -> EpmServer:
    """A validated EpmServer pointing at ``sandbox``."""
    return EpmServer.model_validate(server_doc(sandbox, kind, auth))


MakeEstate = Callable[..., Config]


@pytest.fixture
def make_estate(make_config: MakeConfig) -> MakeEstate:
    """Build a Config with these EPM servers (name -> server doc) and apps."""

    def make(
        servers: dict[str, dict[str, Any]],
        apps: dict[str, dict[str, Any]] | None = None,
        *,
        max_workers: int = 8,
        max_loading_minutes: float = 120,
        **env: str,
    ) -> Config:
        first = next(iter(servers), None)
        document = {
            "apps": apps
            or {
                "Planning": {"domains": ["Actuals", "Forecast", "Budget"], "server": first},
                "FCCS": {"domains": ["Actuals", "Consolidation"]},
            },
            "epm": {"servers": servers, "max_workers": max_workers},
            "staleness": {"max_loading_minutes": max_loading_minutes},
        }
        return make_config(yaml.safe_dump(document, sort_keys=False), **env)

    return make


class Clock:
    """A settable UTC clock for the service and the poller."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 3, 31, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(**delta)


class MonotonicClock:
    """A settable monotonic clock (seconds) for token lifetimes."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """A settable UTC clock."""
    return Clock()


@pytest.fixture
def open_service(clock: Clock) -> Iterator[Callable[[Config], StatusService]]:
    """Open a status service (store in the config's data dir, the test clock); closed after."""
    stores: list[JsonStore] = []

    def open_(config: Config) -> StatusService:
        store = JsonStore(config.settings.data_dir)
        stores.append(store)
        return StatusService(config.estate, store, clock=clock)

    yield open_
    for store in stores:
        store.close()


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., EpmClient]]:
    """Build real EPM clients on a temp data dir; closed after the test."""
    clients: list[EpmClient] = []

    def make(name: str, epm_server: EpmServer, **kwargs: Any) -> EpmClient:
        kwargs.setdefault("data_dir", tmp_path / "data")
        client = EpmClient(name, epm_server, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
