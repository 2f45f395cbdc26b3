"""EPM calls through HTTP_PROXY/HTTPS_PROXY, and around it for NO_PROXY hosts (SPEC §16)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.epm.client import EpmClient
from bot.epm.part import build_clients, close_clients
from bot.estate import EpmServer
from bot.model import Status
from bot.proxy import Proxies
from bot.sandbox.epm import EpmSandbox
from bot.sandbox.proxy import ForwardProxy
from tests.epm.conftest import MakeEstate, server_doc

MakeClient = Callable[..., EpmClient]


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    """A forward proxy on loopback."""
    with ForwardProxy() as running:
        yield running


def client(make_client: MakeClient, epm: EpmSandbox, proxies: Proxies, **doc: Any) -> EpmClient:
    """A planning client on the sandbox that uses ``proxies``."""
    server = EpmServer.model_validate(server_doc(epm, **doc))
    return make_client("epm1", server, proxies=proxies)


def test_a_job_poll_goes_through_the_http_proxy(
    epm: EpmSandbox, make_client: MakeClient, proxy: ForwardProxy
) -> None:
    """The status GET is sent to the proxy as an absolute URL and its answer mapped."""
    epm.add_job("planning", 7, ["ok"])
    epm_client = client(make_client, epm, Proxies(http=proxy.url))
    assert epm_client.job_status("7").status is Status.OK
    assert proxy.targets() == [epm.job_url("planning", 7)]


def test_an_oauth_job_start_and_its_token_go_through_the_proxy(
    epm: EpmSandbox, make_client: MakeClient, proxy: ForwardProxy
) -> None:
    """The token POST and the single start POST both pass the proxy; the job starts once."""
    epm_client = client(make_client, epm, Proxies(http=proxy.url), auth="oauth_client_credentials")
    job_id = epm_client.start_job("RULES", "Aggregate", {})
    (start,) = epm.starts()
    assert start.job_id == job_id
    posts = [f.target for f in proxy.seen if f.method == "POST"]
    assert posts[0] == epm.token_url
    assert posts[1:] == [epm.base_url + "/HyperionPlanning/rest/v3/applications/Vision/jobs"]


def test_a_host_in_no_proxy_is_reached_directly(
    epm: EpmSandbox, make_client: MakeClient, proxy: ForwardProxy
) -> None:
    """NO_PROXY listing the EPM host: polls and starts bypass the proxy."""
    epm.add_job("planning", 8, ["ok"])
    epm_client = client(make_client, epm, Proxies(http=proxy.url, no_proxy="localhost,127.0.0.1"))
    assert epm_client.job_status("8").status is Status.OK
    epm_client.start_job("RULES", "Aggregate", {})
    assert proxy.seen == []


def test_an_https_proxy_is_not_used_for_an_http_server(
    epm: EpmSandbox, make_client: MakeClient, proxy: ForwardProxy
) -> None:
    """HTTPS_PROXY covers https:// URLs only, as in curl and requests."""
    epm.add_job("planning", 9, ["ok"])
    epm_client = client(make_client, epm, Proxies(https=proxy.url))
    assert epm_client.job_status("9").status is Status.OK
    assert proxy.seen == []


def test_the_poller_clients_take_the_proxy_from_the_settings(
    epm: EpmSandbox, make_estate: MakeEstate, proxy: ForwardProxy
) -> None:
    """HTTP_PROXY (and an empty lower-case no_proxy) in the settings reach every client."""
    config = make_estate({"epm1": server_doc(epm)}, HTTP_PROXY=proxy.url, no_proxy="")
    clients = build_clients(config)
    try:
        clients["epm1"].probe()
    finally:
        close_clients(clients)
    assert proxy.targets() == [epm.base_url + "/HyperionPlanning/rest/"]
