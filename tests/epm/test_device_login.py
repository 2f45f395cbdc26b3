"""``oauth_device``: the RFC 8628 sign-in of ``epmpulse epm login`` against a strict sandbox.

The sandbox and the sign-in share one fake clock; the sign-in's sleep moves it, so
intervals, ``slow_down`` and expiry are exact and nothing waits in real time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bot.cli import main
from bot.config import Config
from bot.epm.auth import device_marker
from bot.epm.client import EpmClient
from bot.epm.device import DeviceCode, DeviceLogin, sign_in
from bot.epm.tokens import RefreshTokenFile, fingerprint
from bot.errors import ConfigError, EpmError, ValidationError
from bot.estate import DeviceAuth
from bot.sandbox.epm import EpmSandbox
from bot.store.postgres import PostgresStore
from tests.conftest import FakeClock, MakeConfig, wait_until

PUBLIC_CLIENT = "epmpulse-cli"
SCOPE = "urn:opc:serviceInstanceID=epm offline_access"
TOKEN = "/oauth2/v1/token"


@pytest.fixture
def idp(fake_clock: FakeClock) -> Iterator[EpmSandbox]:
    """An EPM sandbox on the fake clock with a public client registered."""
    with EpmSandbox(username="svc_epm", password="basic-password-9c1d", clock=fake_clock) as box:
        box.register_client(PUBLIC_CLIENT, "unused-secret")
        yield box


def device_doc(sandbox: EpmSandbox, **auth: Any) -> dict[str, Any]:
    """An ``epm.servers`` entry that signs in with the device flow."""
    return {
        "kind": "planning",
        "application": "Vision",
        "base_url": sandbox.base_url,
        "timeout_seconds": 5,
        "auth": {
            "type": "oauth_device",
            "token_url": sandbox.token_url,
            "device_url": sandbox.device_url,
            "client_id": PUBLIC_CLIENT,
            "scope": SCOPE,
            **auth,
        },
    }


def estate(make_config: MakeConfig, servers: dict[str, Any], **env: str) -> Config:
    """A config with these EPM servers."""
    document = {"apps": {"Planning": {"domains": ["Actuals"]}}, "epm": {"servers": servers}}
    return make_config(yaml.safe_dump(document), **env)


class Person:
    """Sleeps for the sign-in by moving the fake clock; signs in on the ``at``-th poll."""

    def __init__(
        self, clock: FakeClock, sandbox: EpmSandbox, at: int = 1, approve: bool = True
    ) -> None:
        self.clock, self.sandbox, self.at, self.approve = clock, sandbox, at, approve
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.sleeps.append(seconds)
        if len(self.sleeps) == self.at:
            for code in self.sandbox.devices.pending_user_codes():
                decide = self.sandbox.approve_device if self.approve else self.sandbox.deny_device
                assert decide(code)


def login(sandbox: EpmSandbox, clock: FakeClock, sleep: Callable[[float], None]) -> DeviceLogin:
    """A DeviceLogin against ``sandbox`` on the fake clock."""
    auth = DeviceAuth.model_validate(device_doc(sandbox)["auth"])
    return DeviceLogin("p", auth, requests.Session(), sleep=sleep, clock=clock)


def test_an_oauth_device_server_is_valid_config_and_needs_its_device_url(
    idp: EpmSandbox, make_config: MakeConfig
) -> None:
    """The auth type validates; without device_url the config error names the field."""
    config = estate(make_config, {"p": device_doc(idp)})
    assert config.estate.epm.servers["p"].auth.type == "oauth_device"
    doc = device_doc(idp)
    del doc["auth"]["device_url"]
    with pytest.raises(ConfigError, match="device_url"):
        estate(make_config, {"p": doc})


def test_sign_in_shows_the_code_waits_at_the_interval_and_stores_the_refresh_token(
    idp: EpmSandbox, fake_clock: FakeClock, make_config: MakeConfig, tmp_path: Path
) -> None:
    """Three polls 5 s apart (pending, pending, tokens); the token is kept 0600 on disk."""
    config = estate(make_config, {"p": device_doc(idp)})
    person = Person(fake_clock, idp, at=3)
    lines: list[str] = []
    signed_in = sign_in(config, "p", lines.append, sleep=person, clock=fake_clock)
    assert person.sleeps == [5.0, 5.0, 5.0]
    assert signed_in.polls == 3
    assert lines[0] == f"To sign in to EPM server p, open {idp.verification_url}"
    assert lines[1].startswith("and enter the code: ")
    token_file = RefreshTokenFile(config.settings.data_dir, "p")
    assert signed_in.stored_in == str(token_file.path)
    document = json.loads(token_file.path.read_text())
    auth = config.estate.epm.servers["p"].auth
    assert isinstance(auth, DeviceAuth)
    assert document["configured_sha256"] == fingerprint(device_marker(auth))
    assert idp.live_refresh_tokens(PUBLIC_CLIENT) == [document["refresh_token"]]
    assert token_file.path.stat().st_mode & 0o777 == 0o600
    assert config.settings.data_dir.stat().st_mode & 0o777 == 0o700  # created by the sign-in
    codes = [r.status for r in idp.requests(TOKEN)]
    assert codes == [400, 400, 200]


def test_after_sign_in_the_poller_refreshes_and_the_refresh_token_rotates(
    idp: EpmSandbox, fake_clock: FakeClock, make_config: MakeConfig
) -> None:
    """The stored token buys an access token for a job status and is replaced by the next."""
    config = estate(make_config, {"p": device_doc(idp)})
    sign_in(config, "p", lambda _line: None, sleep=Person(fake_clock, idp), clock=fake_clock)
    first = idp.live_refresh_tokens(PUBLIC_CLIENT)
    idp.add_job("planning", 7, "ok")
    client = EpmClient("p", config.estate.epm.servers["p"], data_dir=config.settings.data_dir)
    try:
        assert client.job_status("7").finished
    finally:
        client.close()
    rotated = idp.live_refresh_tokens(PUBLIC_CLIENT)
    assert len(rotated) == 1 and rotated != first
    auth = config.estate.epm.servers["p"].auth
    assert isinstance(auth, DeviceAuth)
    stored = RefreshTokenFile(config.settings.data_dir, "p").current(device_marker(auth))
    assert stored == rotated[0]


def test_a_server_never_signed_in_says_to_run_epm_login(
    idp: EpmSandbox, make_config: MakeConfig
) -> None:
    """No stored token: a permanent error that names the command, and no token request."""
    config = estate(make_config, {"p": device_doc(idp)})
    client = EpmClient("p", config.estate.epm.servers["p"], data_dir=config.settings.data_dir)
    try:
        with pytest.raises(EpmError, match=r"not signed in; run `epmpulse epm login p`") as err:
            client.job_status("1")
    finally:
        client.close()
    assert err.value.permanent
    assert idp.requests(TOKEN) == []


def test_slow_down_adds_five_seconds_to_every_later_poll(
    idp: EpmSandbox, fake_clock: FakeClock
) -> None:
    """A client polling every 2 s is told to slow down once and then waits 7 s."""
    person = Person(fake_clock, idp, at=3)
    signing = login(idp, fake_clock, person)
    code = signing.request_code()
    hurried = DeviceCode(
        code.device_code, code.user_code, code.verification_uri, None, code.expires_in, 2.0
    )
    tokens, polls = signing.wait_for_tokens(hurried)
    assert person.sleeps == [2.0, 7.0, 7.0]
    assert [r.status for r in idp.requests(TOKEN)] == [400, 400, 200]
    assert polls == 3 and tokens["refresh_token"]


def test_the_interval_the_server_names_is_honoured(
    idp: EpmSandbox, fake_clock: FakeClock, make_config: MakeConfig
) -> None:
    """With ``interval: 9`` in the answer, every wait is 9 s and no poll is refused."""
    idp.devices.interval = 9
    config = estate(make_config, {"p": device_doc(idp)})
    person = Person(fake_clock, idp, at=2)
    sign_in(config, "p", lambda _line: None, sleep=person, clock=fake_clock)
    assert person.sleeps == [9.0, 9.0]


def test_a_declined_sign_in_fails_and_stores_nothing(
    idp: EpmSandbox, fake_clock: FakeClock, make_config: MakeConfig
) -> None:
    """access_denied ends the wait with a plain error."""
    config = estate(make_config, {"p": device_doc(idp)})
    person = Person(fake_clock, idp, at=1, approve=False)
    with pytest.raises(EpmError, match="the sign-in was declined"):
        sign_in(config, "p", lambda _line: None, sleep=person, clock=fake_clock)
    assert not RefreshTokenFile(config.settings.data_dir, "p").path.exists()


def test_a_code_nobody_enters_expires_and_the_error_says_to_try_again(
    idp: EpmSandbox, fake_clock: FakeClock, make_config: MakeConfig
) -> None:
    """With 12 s to live the client polls twice, then stops before the code is dead."""
    idp.devices.expires_in = 12
    config = estate(make_config, {"p": device_doc(idp)})
    person = Person(fake_clock, idp, at=99)
    with pytest.raises(EpmError, match=r"expired before the sign-in; run `epmpulse epm login p`"):
        sign_in(config, "p", lambda _line: None, sleep=person, clock=fake_clock)
    assert person.sleeps == [5.0, 5.0]
    assert not RefreshTokenFile(config.settings.data_dir, "p").path.exists()


def test_login_names_the_device_servers_when_the_server_is_unknown_or_not_device(
    idp: EpmSandbox, make_config: MakeConfig
) -> None:
    """Unknown names and basic servers are refused with the valid choices."""
    basic = {**device_doc(idp), "auth": {"type": "basic", "username": "u", "password": "pw"}}
    config = estate(make_config, {"planning": device_doc(idp), "arcs": basic})
    with pytest.raises(ValidationError, match=r"no EPM server 'planing'.*did you mean planning"):
        sign_in(config, "planing", print)
    with pytest.raises(
        ValidationError, match=r"uses auth type basic.*oauth_device servers: planning"
    ):
        sign_in(config, "arcs", print)


def test_with_a_database_the_token_is_stored_there(
    idp: EpmSandbox, fake_clock: FakeClock, make_config: MakeConfig, pg_url: str
) -> None:
    """Every instance finds the signed-in token in the store's meta; nothing on disk."""
    config = estate(make_config, {"p": device_doc(idp)}, EPMPULSE_DATABASE_URL=pg_url)
    signed_in = sign_in(
        config, "p", lambda _l: None, sleep=Person(fake_clock, idp), clock=fake_clock
    )
    assert signed_in.stored_in == "the database (meta epm_refresh_token:p)"
    store = PostgresStore(pg_url)
    try:
        stored = store.snapshot().meta["epm_refresh_token:p"]["refresh_token"]
    finally:
        store.close()
    assert idp.live_refresh_tokens(PUBLIC_CLIENT) == [stored]
    assert not RefreshTokenFile(config.settings.data_dir, "p").path.exists()


def test_epm_login_on_the_command_line_prints_the_code_and_signs_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``epmpulse epm login p``: code shown, a person signs in on the page, exit 0."""
    with EpmSandbox(username="svc_epm", password="pw-1") as box:
        box.register_client(PUBLIC_CLIENT, "unused-secret")
        box.devices.interval = 1  # real time here: keep the wait short
        path = tmp_path / "epmpulse.yml"
        document = {"apps": {"Planning": {"domains": ["Actuals"]}}}
        document["epm"] = {"servers": {"p": device_doc(box)}}  # type: ignore[assignment]
        path.write_text(yaml.safe_dump(document))
        monkeypatch.setenv("EPMPULSE_CONFIG", str(path))
        monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))

        def person() -> None:
            wait_until(lambda: box.devices.pending_user_codes(), "a code to enter")
            form = {
                "user_code": box.devices.pending_user_codes()[0],
                "username": "svc_epm",
                "password": "pw-1",
            }
            page = requests.post(box.verification_url, data=form, timeout=5)
            assert page.status_code == 200 and "signed in" in page.text

        helper = threading.Thread(target=person)
        helper.start()
        code = main(["epm", "login", "p"])
        helper.join(10)
    out = capsys.readouterr().out
    assert code == 0
    assert f"open {box.verification_url}" in out
    assert "Signed in to EPM server p; refresh token stored in " in out
    assert (tmp_path / "data" / "tokens" / "p.json").exists()


def test_epm_login_of_an_unknown_server_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A misspelt server is bad input, named with the choices."""
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EPMPULSE_CONFIG", str(tmp_path / "none.yml"))
    (tmp_path / "none.yml").write_text("apps: {Planning: {domains: [Actuals]}}\n")
    assert main(["epm", "login", "p"]) == 2
    assert "no EPM server 'p'" in capsys.readouterr().err
