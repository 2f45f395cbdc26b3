"""The device authorization grant of the sandbox's identity domain (RFC 8628).

Oracle's identity domain answers ``POST /oauth2/v1/device`` with ``client_id``,
``response_type=device_code`` and ``scope``, all three required, with a device
code, a user code, a verification URI and ``expires_in`` (Oracle, *Generate Device
Code and User Code (OAuth Device Flow)*:
https://docs.oracle.com/en/cloud/paas/identity-cloud/idcsa/op-oauth2-v1-device-post.html).
Oracle's answer names no ``interval``, so clients poll every 5 s (RFC 8628 §3.2);
``device_interval`` adds one when a test wants it.

The token endpoint then answers the device grant as RFC 8628 §3.5 says:
``authorization_pending`` until the person signs in, ``slow_down`` to a client
polling sooner than the interval (counted from the code's issue or the previous
poll), which from then on must wait 5 s longer than it did, ``access_denied`` when the person
declines, ``expired_token`` after ``expires_in``; a code yields tokens once.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

DEVICE_PATH = "/oauth2/v1/device"
VERIFICATION_PATH = "/ui/v1/device"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5
_USER_CODE_LETTERS = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels: no words, no 0/O or 1/I confusion

Poll = Literal["pending", "slow_down", "expired", "denied", "invalid", "approved"]


@dataclass
class _Authorization:
    client_id: str
    user_code: str
    expires_at: float
    interval: float
    last_poll: float
    decision: Literal["approved", "denied"] | None = None
    user: str | None = None


class DeviceAuthorizations:
    """Pending device sign-ins: issued codes, the person's decision, the polls."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_device: dict[str, _Authorization] = {}
        self.expires_in = 300
        self.interval: int | None = None  # None: named in no answer, as Oracle's

    def issue(self, client_id: str, verification_uri: str) -> dict[str, Any]:
        """A new device code for ``client_id``: the body of the device answer."""
        device_code = "dc-" + secrets.token_urlsafe(24)
        user_code = "-".join(
            "".join(secrets.choice(_USER_CODE_LETTERS) for _ in range(4)) for _ in range(2)
        )
        now = self._clock()
        with self._lock:
            self._by_device[device_code] = _Authorization(
                client_id=client_id,
                user_code=user_code,
                expires_at=now + self.expires_in,
                interval=float(self.interval or 5),
                last_poll=now,
            )
        body: dict[str, Any] = {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "expires_in": self.expires_in,
        }
        if self.interval is not None:
            body["interval"] = self.interval
        return body

    def decide(self, user_code: str, *, user: str | None, approve: bool) -> bool:
        """Record the person's answer to ``user_code``; False when no live code matches."""
        wanted = user_code.strip().upper()
        now = self._clock()
        with self._lock:
            for entry in self._by_device.values():
                if entry.user_code == wanted and entry.decision is None and now < entry.expires_at:
                    entry.decision = "approved" if approve else "denied"
                    entry.user = user
                    return True
        return False

    def pending_user_codes(self) -> list[str]:
        """The user codes still waiting for a person, oldest first."""
        now = self._clock()
        with self._lock:
            return [
                e.user_code
                for e in self._by_device.values()
                if e.decision is None and now < e.expires_at
            ]

    def poll(self, form: Mapping[str, str], client_id: str) -> tuple[Poll, str | None]:
        """One token request with the device grant: (outcome, the user on approval)."""
        now = self._clock()
        with self._lock:
            entry = self._by_device.get(form.get("device_code", ""))
            if entry is None or entry.client_id != client_id:
                return "invalid", None
            if now >= entry.expires_at:
                del self._by_device[form["device_code"]]
                return "expired", None
            gap = now - entry.last_poll
            entry.last_poll = now
            if gap < entry.interval:
                # The client must now wait 5 s more than it just did: one that heeds
                # slow_down gets through, one that ignores it is told again.
                entry.interval = max(entry.interval, gap + SLOW_DOWN_STEP)
                return "slow_down", None
            if entry.decision is None:
                return "pending", None
            del self._by_device[form["device_code"]]  # a code yields tokens (or a no) once
            return entry.decision, entry.user


VERIFICATION_PAGE = """<!doctype html>
<html><head><title>EPM sandbox sign-in</title></head><body>
<h1>Sign in a device</h1>
<p>{notice}</p>
<form method="post">
<label>Code <input name="user_code" autofocus></label><br>
<label>User <input name="username"></label><br>
<label>Password <input name="password" type="password"></label><br>
<button name="decision" value="approve">Allow</button>
<button name="decision" value="deny">Deny</button>
</form></body></html>
"""
