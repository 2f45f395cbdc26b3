"""Fixtures for the EPM tests: started sandboxes, configs pointing at them, clients, a clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
from tests.conftest import FakeNow, MakeConfig, wait_until

CLIENT_ID = "epmpulse"
CLIENT_SECRET = "client-secret-value-7f3a"


def start_posts(epm: EpmSandbox, timeout: float = 5.0) -> list[str]:
    """The paths of the POSTs (token requests left out) that reached ``epm``, once no
    request is in flight."""
    wait_until(lambda: not epm.in_flight(), "no request in flight at the EPM sandbox", timeout)
    return [r.path for r in epm.requests() if r.method == "POST" and "oauth2" not in r.path]


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


@pytest.fixture
def clock() -> FakeNow:
    """A settable UTC clock."""
    return FakeNow()


@pytest.fixture
def open_service(clock: FakeNow) -> Iterator[Callable[[Config], StatusService]]:
    """Open a status service (store in the config's data dir, the test clock); closed after."""
    stores: list[JsonStore] = []

    def open_(config: Config) -> StatusService:
        store = JsonStore(config.settings.data_dir)
        stores.append(store)
        return StatusService(config.estate.layout, store, clock=clock)

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
