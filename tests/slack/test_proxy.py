"""The Slack Web API and Socket Mode through HTTP_PROXY/HTTPS_PROXY (SPEC §16)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.sandbox.proxy import ForwardProxy
from bot.sandbox.slack import SlackSandbox
from bot.service import StatusService
from bot.slack.client import build_leased_client, build_web_client
from bot.slack.part import SlackPart
from bot.store import JsonStore
from tests.conftest import MakeConfig
from tests.slack.conftest import slack_env

CERTS = Path(__file__).resolve().parents[1] / "certs"  # a self-signed cert for 127.0.0.1


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


def test_socket_mode_runs_through_the_proxy_tunnel(
    make_config: MakeConfig, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Socket Mode (wss://, as Slack serves it) is tunnelled with CONNECT through
    HTTPS_PROXY, and a slash command makes the whole round trip through the tunnel."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(CERTS / "loopback.pem", CERTS / "loopback.key")
    # slack_sdk checks the server against the default trust store: let it trust ours.
    monkeypatch.setenv("SSL_CERT_FILE", str(CERTS / "loopback.pem"))
    with SlackSandbox(socket_tls=tls) as sandbox:
        env = slack_env(sandbox, HTTP_PROXY=proxy.url, HTTPS_PROXY=proxy.url)
        config = make_config(**env)
        store = JsonStore(config.settings.data_dir)
        part = SlackPart(config, StatusService(config.estate.layout, store))
        try:
            part.start()
            sandbox.wait_connected(10)
            ack = sandbox.send_command("status Planning Actuals", timeout=10)
        finally:
            part.stop()
            store.close()
    assert ack.refusal is None and ack.type == "slash_commands"
    host = urlsplit(sandbox.api_url).hostname
    assert proxy.targets()[:2] == [
        sandbox.api_url + "auth.test",
        sandbox.api_url + "apps.connections.open",
    ]
    connects = [f.target for f in proxy.seen if f.method == "CONNECT"]
    assert connects and all(target.startswith(f"{host}:") for target in connects)
