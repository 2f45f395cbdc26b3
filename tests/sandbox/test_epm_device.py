"""The EPM sandbox's device grant refuses what Oracle's identity domain and RFC 8628 refuse."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bot.sandbox.epm import EpmSandbox
from tests.conftest import FakeClock

CLIENT = "device-client"
GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def box(fake_clock: FakeClock) -> Iterator[EpmSandbox]:
    """A started sandbox on the fake clock with one client."""
    with EpmSandbox(username="u", password="p", clock=fake_clock) as sandbox:
        sandbox.register_client(CLIENT, "secret")
        yield sandbox


def device(box: EpmSandbox, **form: str) -> requests.Response:
    """POST the device authorization endpoint."""
    body = {"client_id": CLIENT, "response_type": "device_code", "scope": "epm", **form}
    return requests.post(box.device_url, data={k: v for k, v in body.items() if v}, timeout=5)


def poll(box: EpmSandbox, device_code: str) -> tuple[int, dict[str, Any]]:
    """One token request with the device grant."""
    form = {"grant_type": GRANT, "device_code": device_code, "client_id": CLIENT}
    answer = requests.post(box.token_url, data=form, timeout=5)
    return answer.status_code, answer.json()


def test_the_answer_has_oracles_fields_and_no_interval(box: EpmSandbox) -> None:
    """device_code, user_code, verification_uri and expires_in; no interval, as Oracle's."""
    answer = device(box)
    body = answer.json()
    assert answer.status_code == 200
    assert set(body) == {"device_code", "user_code", "verification_uri", "expires_in"}
    assert body["verification_uri"] == box.verification_url
    assert len(body["user_code"]) == 9 and body["user_code"][4] == "-"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"response_type": ""}, 400, "invalid_request"),
        ({"response_type": "code"}, 400, "invalid_request"),
        ({"scope": ""}, 400, "invalid_request"),
        ({"client_id": "stranger"}, 401, "invalid_client"),
    ],
)
def test_a_device_request_missing_what_oracle_requires_is_refused(
    box: EpmSandbox, form: dict[str, str], status: int, error: str
) -> None:
    """client_id (registered), response_type=device_code and scope are all required."""
    answer = device(box, **form)
    assert (answer.status_code, answer.json()["error"]) == (status, error)
    assert box.devices.pending_user_codes() == []


def test_polls_are_pending_then_slow_down_when_too_soon_then_tokens_once(
    box: EpmSandbox, fake_clock: FakeClock
) -> None:
    """RFC 8628 §3.5, step by step, and the device code cannot be used twice."""
    body = device(box).json()
    code = body["device_code"]

    def error() -> str:
        status, answer = poll(box, code)
        assert status == 400
        return str(answer["error"])

    fake_clock.advance(1)
    assert error() == "slow_down"  # 1 s after the issue, 5 s are due; now 1 + 5
    fake_clock.advance(3)
    assert error() == "slow_down"  # the slow-down ignored: now 3 + 5
    fake_clock.advance(8)
    assert error() == "authorization_pending"
    assert box.approve_device(body["user_code"].lower())
    fake_clock.advance(8)
    status, tokens = poll(box, code)
    assert status == 200
    assert tokens["access_token"] and tokens["refresh_token"]
    assert box.live_refresh_tokens(CLIENT) == [tokens["refresh_token"]]
    fake_clock.advance(8)
    assert error() == "invalid_grant"


def test_a_denied_or_expired_code_answers_access_denied_or_expired_token(
    box: EpmSandbox, fake_clock: FakeClock
) -> None:
    """The person's no, and the code's end, are told apart."""
    denied = device(box).json()
    expired = device(box).json()
    assert box.deny_device(denied["user_code"])
    fake_clock.advance(5)
    assert poll(box, denied["device_code"])[1]["error"] == "access_denied"
    fake_clock.advance(300)
    assert poll(box, expired["device_code"])[1]["error"] == "expired_token"
    assert not box.approve_device(expired["user_code"])


def test_the_verification_page_signs_in_only_with_the_right_password(box: EpmSandbox) -> None:
    """The HTML page: a wrong password changes nothing; the right one approves the code."""
    body = device(box).json()
    page = requests.get(box.verification_url, timeout=5)
    assert page.status_code == 200 and "<form" in page.text
    form = {"user_code": body["user_code"], "username": "u", "password": "wrong"}
    refused = requests.post(box.verification_url, data=form, timeout=5)
    assert refused.status_code == 401
    assert box.devices.pending_user_codes() == [body["user_code"]]
    accepted = requests.post(box.verification_url, data={**form, "password": "p"}, timeout=5)
    assert accepted.status_code == 200
    assert box.devices.pending_user_codes() == []
    again = requests.post(box.verification_url, data={**form, "password": "p"}, timeout=5)
    assert again.status_code == 400
