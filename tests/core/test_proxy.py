"""Which proxy a URL goes through, how the settings read it, and what ``check`` shows."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bot.cli import main
from bot.errors import ConfigError
from bot.proxy import Proxies, mask
from tests.conftest import MakeConfig

CORP = Proxies(
    https="http://ops:s3cret@proxy.corp:3128",
    http="http://proxy.corp:3128",
    no_proxy=" .internal.corp, 10.0.0.0/8,epm.local:8443 ",
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://epm.oraclecloud.com/x", "http://ops:s3cret@proxy.corp:3128"),
        ("wss://wss-primary.slack.com/link", "http://ops:s3cret@proxy.corp:3128"),
        ("http://slack.example/api/", "http://proxy.corp:3128"),
        ("https://internal.corp/", None),
        ("https://epm.internal.corp/", None),
        ("https://xinternal.corp/", "http://ops:s3cret@proxy.corp:3128"),
        ("https://10.1.2.3/", None),
        ("https://epm.local:8443/", None),
        ("https://epm.local/", "http://ops:s3cret@proxy.corp:3128"),
    ],
)
def test_each_url_gets_the_proxy_of_its_scheme_unless_no_proxy_lists_it(
    url: str, expected: str | None
) -> None:
    """Scheme picks HTTPS_PROXY or HTTP_PROXY; NO_PROXY names, subdomains, CIDRs, ports."""
    assert CORP.for_url(url) == expected


def test_a_star_in_no_proxy_turns_proxying_off() -> None:
    """NO_PROXY=* bypasses every host."""
    assert Proxies(https="http://p:1", no_proxy="*").for_url("https://slack.com/api/") is None


def test_the_description_masks_the_password() -> None:
    """``user:pass@`` never shows; NO_PROXY is listed as read."""
    assert mask("http://ops:s3cret@proxy.corp:3128") == "http://***@proxy.corp:3128"
    assert CORP.describe() == (
        "http://***@proxy.corp:3128, http://proxy.corp:3128 for http:// "
        "(NO_PROXY: .internal.corp,10.0.0.0/8,epm.local:8443)"
    )
    assert Proxies().describe() == "none"


def test_the_settings_read_both_spellings_the_lower_case_one_first(
    make_config: MakeConfig,
) -> None:
    """As curl and requests do, https_proxy beats HTTPS_PROXY; a bare host:port is http://."""
    settings = make_config(
        HTTPS_PROXY="http://upper:1", https_proxy="lower:3128", NO_PROXY="a", no_proxy="b"
    ).settings
    proxies = Proxies.from_settings(settings)
    assert proxies == Proxies(https="http://lower:3128", http=None, no_proxy="b")
    assert "lower" not in repr(settings)  # a secret: it may carry a password


def test_a_proxy_that_is_not_a_url_is_named(make_config: MakeConfig) -> None:
    """A socks:// or hostless proxy is a configuration problem located by variable."""
    with pytest.raises(ConfigError) as caught:
        make_config(HTTP_PROXY="socks5://p:1080")
    assert any("http_proxy" in p.lower() for p in caught.value.problems)


def test_check_prints_the_proxy_with_the_password_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``epmpulse check`` has one proxy line; the password is not printed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))
    for name in ("EPMPULSE_CONFIG", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://ops:s3cret@proxy.corp:3128")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    _unreachable_slack(monkeypatch)
    main(["check"])
    out = capsys.readouterr().out
    assert "ok   proxy: http://***@proxy.corp:3128 (NO_PROXY: 127.0.0.1,localhost)\n" in out
    assert "s3cret" not in out


def test_check_says_when_there_is_no_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without HTTPS_PROXY or HTTP_PROXY the line says none."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))
    _unreachable_slack(monkeypatch)
    main(["check"])
    assert "ok   proxy: none\n" in capsys.readouterr().out


def _unreachable_slack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings `check` accepts, pointing at a loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SLACK_API_URL", f"http://127.0.0.1:{port}/api/")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-x")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-x")
    monkeypatch.setenv("SLACK_CHANNEL_ID", "C0GENERAL")
