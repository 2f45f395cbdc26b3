"""The Slack Web API and Socket Mode through HTTP_PROXY/HTTPS_PROXY (SPEC §16)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from bot.sandbox.proxy import ForwardProxy
from bot.sandbox.slack import SlackSandbox
from bot.service import StatusService
from bot.slack.client import build_leased_client, build_web_client
from bot.slack.part import SlackPart
from bot.store import JsonStore
from tests.conftest import MakeConfig, wait_until
from tests.slack.conftest import slack_env


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    """A forward proxy on loopback; the test suite's NO_PROXY is lifted from the process,
    because urllib (under slack_sdk) also consults it."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with ForwardProxy() as running:
        yield running


def test_a_web_api_call_goes_through_the_proxy(
    sandbox: SlackSandbox, make_config: MakeConfig, proxy: ForwardProxy
) -> None:
    """auth.test is sent to HTTP_PROXY as an absolute URL, with the proxy's credentials."""
    config = make_config(**slack_env(sandbox, HTTP_PROXY=proxy.url.replace("//", "//ops:s3cret@")))
    assert build_web_client(config.settings).auth_test()["ok"]
    ((method, target, authorization),) = proxy.seen
    assert (method, target) == ("POST", sandbox.api_url + "auth.test")
    assert authorization is not None and authorization.startswith("Basic ")


def test_the_leased_client_goes_through_the_proxy(
    sandbox: SlackSandbox, make_config: MakeConfig, proxy: ForwardProxy
) -> None:
    """Leader-only parts' client uses the same proxy."""

    class Held:
        def remaining(self) -> float:
            return 60.0

        def check(self, action: str) -> None:
            """Always held."""

    config = make_config(**slack_env(sandbox, http_proxy=proxy.url))
    assert build_leased_client(config.settings, Held()).auth_test()["ok"]  # type: ignore[arg-type]
    assert proxy.targets() == [sandbox.api_url + "auth.test"]


def test_no_proxy_listing_the_slack_host_bypasses_the_proxy(
    sandbox: SlackSandbox, make_config: MakeConfig, proxy: ForwardProxy
) -> None:
    """NO_PROXY with SLACK_API_URL's host: the Web API is called directly."""
    config = make_config(**slack_env(sandbox, HTTP_PROXY=proxy.url, NO_PROXY="127.0.0.1"))
    assert build_web_client(config.settings).auth_test()["ok"]
    assert proxy.seen == []


def test_socket_mode_opens_its_tunnel_through_the_proxy(
    sandbox: SlackSandbox, make_config: MakeConfig, proxy: ForwardProxy
) -> None:
    """The Slack part's Web API calls use the proxy and Socket Mode asks it to CONNECT to
    the socket host. (slack_sdk speaks TLS inside any proxy tunnel, so the sandbox's plain
    ws:// socket cannot complete the connection here.)"""
    config = make_config(**slack_env(sandbox, HTTP_PROXY=proxy.url))
    store = JsonStore(config.settings.data_dir)
    part = SlackPart(config, StatusService(config.estate, store))
    host = urlsplit(sandbox.api_url).hostname
    try:
        part.start()
        wait_until(lambda: any(f.method == "CONNECT" for f in proxy.seen), "a CONNECT at the proxy")
    finally:
        part.stop()
        store.close()
    assert proxy.targets()[:2] == [
        sandbox.api_url + "auth.test",
        sandbox.api_url + "apps.connections.open",
    ]
    connects = [f.target for f in proxy.seen if f.method == "CONNECT"]
    assert all(target.startswith(f"{host}:") for target in connects)
