"""Basic, rotating refresh-token and client-credentials auth with the real client."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

from bot.epm.client import EpmClient
from bot.epm.tokens import RefreshTokenFile
from bot.errors import EpmError
from bot.estate import EpmServer
from bot.sandbox.epm import EpmSandbox
from bot.sandbox.epm.auth import parse_basic
from tests.conftest import FakeClock
from tests.epm.conftest import CLIENT_ID, CLIENT_SECRET, server, server_doc

JOB = "/HyperionPlanning/rest/v3/applications/Vision/jobs/"
TOKEN = "/oauth2/v1/token"


def grants(epm: EpmSandbox) -> list[str | None]:
    """The grant types of the token requests the sandbox served."""
    return [r.grant_type for r in epm.requests(TOKEN)]


def persisted(data_dir: Path, name: str = "p") -> str:
    """The refresh token persisted for server ``name``."""
    document = json.loads((data_dir / "tokens" / f"{name}.json").read_text())
    return str(document["refresh_token"])


def test_basic_auth_polls_with_the_configured_user(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """Basic credentials are sent on every request; no token endpoint is involved."""
    epm.add_job("planning", 1, "ok")
    assert make_client("p", server(epm)).job_status("1").finished
    assert [r.auth for r in epm.requests()] == ["basic"]


def test_refused_basic_credentials_are_a_permanent_error_without_a_retry(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """A 401 with Basic auth cannot be fixed by refreshing: one request, permanent error."""
    doc = server_doc(epm)
    doc["auth"]["password"] = "wrong-password"
    with pytest.raises(EpmError) as caught:
        make_client("p", EpmServer.model_validate(doc)).job_status("1")
    assert caught.value.permanent and caught.value.status_code == 401
    assert len(epm.requests()) == 1


def test_a_rotated_refresh_token_is_persisted_0600_before_the_access_token_is_used(
    epm: EpmSandbox, make_client: Callable[..., EpmClient], tmp_path: Path
) -> None:
    """After a refresh, the file holds the one live refresh token, private to the owner."""
    epm.add_job("planning", 1, "ok")
    client = make_client("p", server(epm, auth="oauth_refresh_token"))
    assert client.job_status("1").finished
    data_dir = tmp_path / "data"
    path = data_dir / "tokens" / "p.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert epm.live_refresh_tokens("epmpulse") == [persisted(data_dir)]
    assert [r.auth for r in epm.requests(JOB)] == ["bearer"]


def test_the_new_refresh_token_is_on_disk_when_the_access_token_is_first_used(
    epm: EpmSandbox, make_client: Callable[..., EpmClient], tmp_path: Path
) -> None:
    """The authenticator hands out the access token only after persisting the rotation."""
    client = make_client("p", server(epm, auth="oauth_refresh_token"))
    header = client.auth.header()
    assert header.startswith("Bearer ")
    assert persisted(tmp_path / "data") in epm.live_refresh_tokens("epmpulse")


def test_a_restart_between_refreshes_uses_the_persisted_token(
    epm: EpmSandbox, make_client: Callable[..., EpmClient], tmp_path: Path
) -> None:
    """A new client (a restarted process) refreshes with the persisted, not the spent, token."""
    epm.add_job("planning", 1, "ok")
    config = server(epm, auth="oauth_refresh_token")
    make_client("p", config).job_status("1")
    epm.expire_access_tokens()
    restarted = make_client("p", config)
    assert restarted.job_status("1").finished
    assert grants(epm) == ["refresh_token", "refresh_token"]
    assert [r.status for r in epm.requests(TOKEN)] == [200, 200]
    assert epm.live_refresh_tokens("epmpulse") == [persisted(tmp_path / "data")]


def test_a_changed_configured_refresh_token_wins_over_the_persisted_one(
    epm: EpmSandbox, make_client: Callable[..., EpmClient], tmp_path: Path
) -> None:
    """An operator who configures a newly issued token does not have to delete the file."""
    make_client("p", server(epm, auth="oauth_refresh_token")).auth.header()
    reissued = server(epm, auth="oauth_refresh_token")  # a fresh token from the sandbox
    make_client("p", reissued).auth.header()
    assert [r.status for r in epm.requests(TOKEN)] == [200, 200]


def test_a_spent_refresh_token_is_a_permanent_error_that_says_what_to_do(
    epm: EpmSandbox, make_client: Callable[..., EpmClient], tmp_path: Path
) -> None:
    """invalid_grant cannot heal by retrying; the message tells the operator what to do."""
    config = server(epm, auth="oauth_refresh_token")
    RefreshTokenFile(tmp_path / "data", "p").save(
        "rt-long-gone",
        config.auth.refresh_token.get_secret_value(),  # type: ignore[union-attr]
    )
    with pytest.raises(EpmError) as caught:
        make_client("p", config).auth.header()
    assert caught.value.permanent
    assert "invalid_grant" in str(caught.value) and "new refresh token" in str(caught.value)


def test_client_credentials_fetch_a_token_and_send_the_scope(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """The client-credentials grant yields a bearer token; no refresh token is involved."""
    epm.add_job("arcs", 3, "ok")
    client = make_client("a", server(epm, "arcs", "oauth_client_credentials"))
    assert client.job_status("3").finished
    assert grants(epm) == ["client_credentials"]
    assert epm.requests("/armARCS")[0].auth == "bearer"


def test_epm_refusing_a_fresh_client_credentials_token_points_to_oauth_device(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """A 401 after a new token is not retried again and names the sign-in that works."""
    epm.add_job("arcs", 3, "ok")
    epm.inject("/armARCS", 401, times=2)  # as EPM answers a token without a user
    client = make_client("a", server(epm, "arcs", "oauth_client_credentials"))
    with pytest.raises(EpmError, match=r"HTTP 401.*use auth type oauth_device.*epm login a"):
        client.job_status("3")
    assert grants(epm) == ["client_credentials", "client_credentials"]


def test_a_basic_401_does_not_mention_oauth_device(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """The hint is for client-credentials tokens only."""
    epm.inject("/armARCS", 401)
    client = make_client("a", server(epm, "arcs", "basic"))
    with pytest.raises(EpmError) as err:
        client.job_status("3")
    assert "HTTP 401" in str(err.value) and "oauth_device" not in str(err.value)


@dataclass(frozen=True)
class TokenCall:
    """What the client sent to the token endpoint, and the answer's status."""

    basic: tuple[str, str] | None
    form: dict[str, str]
    status: int


def record_token_calls(client: EpmClient) -> list[TokenCall]:
    """Record, through a requests response hook, every token request the client makes."""
    calls: list[TokenCall] = []

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        sent = response.request
        if sent.url is None or not sent.url.endswith(TOKEN):
            return
        body = sent.body.decode() if isinstance(sent.body, bytes) else sent.body or ""
        calls.append(
            TokenCall(
                parse_basic(sent.headers.get("Authorization")),
                {k: v[0] for k, v in parse_qs(body).items()},
                response.status_code,
            )
        )

    client.session.hooks["response"].append(hook)
    return calls


@pytest.mark.parametrize("mode", ["oauth_refresh_token", "oauth_client_credentials"])
def test_a_confidential_client_sends_basic_and_its_client_id_in_the_form(
    epm: EpmSandbox, make_client: Callable[..., EpmClient], mode: str
) -> None:
    """Client id and secret go in HTTP Basic; the form names the client id too, never the secret."""
    client = make_client("p", server(epm, auth=mode))
    calls = record_token_calls(client)
    assert client.auth.header().startswith("Bearer ")
    assert [(c.basic, c.status) for c in calls] == [((CLIENT_ID, CLIENT_SECRET), 200)]
    assert calls[0].form["client_id"] == CLIENT_ID
    assert "client_secret" not in calls[0].form


@pytest.mark.parametrize("mode", ["oauth_refresh_token", "oauth_client_credentials"])
def test_a_token_endpoint_refusing_basic_gets_the_secret_in_the_form_from_then_on(
    epm: EpmSandbox,
    make_client: Callable[..., EpmClient],
    tmp_path: Path,
    mode: str,
) -> None:
    """After a 401 to Basic the client retries once with client_id and client_secret in the form.

    The form style is kept for later token requests, and a refresh token survives the retry.
    """
    epm.inject(TOKEN, 401)
    mono = FakeClock()
    client = make_client("p", server(epm, auth=mode), clock=mono)
    calls = record_token_calls(client)
    assert client.auth.header().startswith("Bearer ")
    mono.now += 3600
    assert client.auth.header().startswith("Bearer ")
    basic_then_form = [(True, 401), (False, 200), (False, 200)]
    assert [(c.basic is not None, c.status) for c in calls] == basic_then_form
    for call in calls[1:]:
        assert (call.form["client_id"], call.form["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)
    if mode == "oauth_refresh_token":
        assert epm.live_refresh_tokens(CLIENT_ID) == [persisted(tmp_path / "data")]


def test_a_secret_refused_in_both_styles_is_a_permanent_error(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """A wrong client secret fails Basic and then the form: two requests, permanent 401."""
    doc = server_doc(epm, auth="oauth_client_credentials")
    doc["auth"]["client_secret"] = "wrong-secret"
    client = make_client("p", EpmServer.model_validate(doc))
    with pytest.raises(EpmError) as caught:
        client.auth.header()
    assert caught.value.permanent and caught.value.status_code == 401
    assert "invalid_client" in str(caught.value)
    assert [r.status for r in epm.requests(TOKEN)] == [401, 401]


@pytest.mark.parametrize("mode", ["oauth_refresh_token", "oauth_client_credentials"])
def test_an_access_token_is_cached_until_60_seconds_before_it_expires(
    epm: EpmSandbox, make_client: Callable[..., EpmClient], mode: str
) -> None:
    """Polls reuse the token; 59 s before expiry (sandbox: 3600 s) a new one is fetched."""
    epm.add_job("planning", 1, "running")
    mono = FakeClock()
    client = make_client("p", server(epm, auth=mode), clock=mono)
    client.job_status("1")
    mono.now += 3539
    client.job_status("1")
    assert len(epm.requests(TOKEN)) == 1
    mono.now += 2
    client.job_status("1")
    assert len(epm.requests(TOKEN)) == 2
    assert all(r.status == 200 for r in epm.requests(JOB))


def test_refresh_if_due_renews_ahead_of_time_only_when_due(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """The scheduler's refresh renews a token that would go stale within the horizon."""
    mono = FakeClock()
    client = make_client("p", server(epm, auth="oauth_refresh_token"), clock=mono)
    assert client.refresh_token_if_due(45) is True  # no token yet: warm up
    assert client.refresh_token_if_due(45) is False
    mono.now += 3540 - 45
    assert client.refresh_token_if_due(45) is True
    assert len(epm.requests(TOKEN)) == 2


@pytest.mark.parametrize("mode", ["oauth_refresh_token", "oauth_client_credentials"])
def test_a_401_triggers_one_refresh_and_one_retry(
    epm: EpmSandbox, make_client: Callable[..., EpmClient], mode: str
) -> None:
    """An access token the server no longer accepts is replaced once and the poll repeated."""
    epm.add_job("planning", 1, "ok")
    client = make_client("p", server(epm, auth=mode))
    client.auth.header()
    epm.expire_access_tokens()
    assert client.job_status("1").finished
    assert [r.status for r in epm.requests(JOB)] == [401, 200]
    assert len(epm.requests(TOKEN)) == 2


def test_a_second_401_after_the_refresh_is_a_permanent_error(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """Only one refresh and one retry: a token refused twice is not retried forever."""
    epm.add_job("planning", 1, "ok")
    epm.expires_in = 0  # every token is dead on arrival
    client = make_client("p", server(epm, auth="oauth_client_credentials"))
    with pytest.raises(EpmError) as caught:
        client.job_status("1")
    assert caught.value.permanent and caught.value.status_code == 401
    assert [r.status for r in epm.requests(JOB)] == [401, 401]


def test_parallel_401s_share_one_refresh(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """Many poller threads refused at once make a single token request, not one each."""
    from concurrent.futures import ThreadPoolExecutor

    for job in range(8):
        epm.add_job("planning", job, "ok")
    epm.set_latency(0.1, JOB)
    client = make_client("p", server(epm, auth="oauth_refresh_token"), pool_size=8)
    client.auth.header()
    epm.expire_access_tokens()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(client.job_status, [str(j) for j in range(8)]))
    assert all(r.finished for r in results)
    assert len(epm.requests(TOKEN)) == 2  # the first token, then one shared refresh


def test_secrets_never_appear_in_reprs_or_logs(
    epm: EpmSandbox,
    make_client: Callable[..., EpmClient],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """Passwords, client secrets, refresh and access tokens stay out of reprs and log lines."""
    caplog.set_level(logging.DEBUG)
    epm.add_job("planning", 1, "ok")
    refresh_config = server(epm, auth="oauth_refresh_token")
    configured = refresh_config.auth.refresh_token.get_secret_value()  # type: ignore[union-attr]
    clients = [
        make_client("b", server(epm)),
        make_client("r", refresh_config),
        make_client("c", server(epm, auth="oauth_client_credentials")),
    ]
    headers = [c.auth.header() for c in clients]
    for client in clients:
        client.job_status("1")
    epm.expire_access_tokens()
    clients[1].job_status("1")
    secrets = [
        epm.password,
        CLIENT_SECRET,
        configured,
        persisted(tmp_path / "data", "r"),
        *(h.split(" ", 1)[1] for h in headers),
    ]
    shown = [repr(c) for c in clients] + [repr(c.auth) for c in clients]
    shown += [repr(refresh_config), str(refresh_config)]
    shown += [r.getMessage() for r in caplog.records]
    assert any("new access token" in line for line in shown)  # the logs were captured
    for text in shown:
        for secret in secrets:
            assert secret not in text


def test_an_unusable_token_directory_is_a_permanent_error(
    epm: EpmSandbox, make_client: Callable[..., EpmClient], tmp_path: Path
) -> None:
    """If rotations cannot be persisted, no token is requested (it would be lost)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "tokens").write_text("not a directory")
    with pytest.raises(EpmError) as caught:
        make_client("p", server(epm, auth="oauth_refresh_token")).auth.header()
    assert caught.value.permanent and "tokens" in str(caught.value)
    assert epm.requests() == []
