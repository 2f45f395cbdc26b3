"""``epmpulse epm login SERVER``: the OAuth 2 device authorization grant (RFC 8628).

Oracle's way to call EPM REST without a password is a person's one-time sign-in
that yields the first refresh token; from then on the refresh token rotates with
every use (the REST guide's *Authentication with OAuth 2*, step 2). The device
grant does that sign-in from a terminal:

1. ``POST device_url`` (``client_id``, ``response_type=device_code``, ``scope``)
   answers a device code, a user code and a verification URL (Oracle's identity
   domain: *Generate Device Code and User Code*, ``/oauth2/v1/device``);
2. the person opens the URL and enters the code;
3. meanwhile the token endpoint is polled with the device code, no faster than
   ``interval`` (5 s when the answer names none), 5 s slower after each
   ``slow_down`` (RFC 8628 §3.5), until it answers tokens, ``access_denied`` or
   ``expired_token``, or the code's ``expires_in`` has passed;
4. the refresh token is stored where the server's rotated tokens live (the data
   directory, or the database with ``EPMPULSE_DATABASE_URL``) before anything uses it.

No code, token or secret is logged; only the user code is shown, as it must be.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from bot.config import Config
from bot.epm.auth import device_marker, json_object, oauth_reason
from bot.epm.client import CONNECT_TIMEOUT, build_session
from bot.epm.tokens import RefreshTokenStorage, token_storage
from bot.errors import EpmError, ValidationError, closest_match
from bot.estate import DeviceAuth
from bot.proxy import Proxies
from bot.store import Store
from bot.store.factory import open_store

logger = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL = 5.0  # RFC 8628 §3.2: when the answer names no interval
SLOW_DOWN_STEP = 5.0  # RFC 8628 §3.5: added to the interval after each slow_down
DEFAULT_EXPIRES_IN = 600.0  # only if a server omits the required expires_in

Emit = Callable[[str], None]


@dataclass(frozen=True)
class DeviceCode:
    """The answer to a device authorization request."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float


@dataclass(frozen=True)
class SignedIn:
    """The outcome of a sign-in: where the refresh token went and how long it took."""

    stored_in: str
    polls: int


class DeviceLogin:
    """One sign-in to one ``oauth_device`` server."""

    def __init__(
        self,
        server: str,
        auth: DeviceAuth,
        session: requests.Session,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server = server
        self._auth = auth
        self._session = session
        self._timeout = timeout
        self._sleep = sleep
        self._clock = clock

    def __repr__(self) -> str:
        return f"DeviceLogin(server={self.server!r}, client_id={self._auth.client_id!r})"

    def run(self, storage: RefreshTokenStorage, emit: Emit) -> SignedIn:
        """Request a code, show it with ``emit``, wait for the sign-in, store the token."""
        code = self.request_code()
        emit(f"To sign in to EPM server {self.server}, open {code.verification_uri}")
        emit(f"and enter the code: {code.user_code}")
        if code.verification_uri_complete:
            emit(f"(or open {code.verification_uri_complete})")
        minutes = max(1, round(code.expires_in / 60))
        emit(f"Waiting for the sign-in (the code expires in {minutes} min)...")
        tokens, polls = self.wait_for_tokens(code)
        refresh = tokens.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            raise EpmError(
                f"EPM {self.server}: the sign-in gave no refresh token; ask the identity "
                f"domain administrator to allow the Refresh Token grant for client "
                f"{self._auth.client_id} and include offline_access in scope",
                permanent=True,
            )
        with storage.locked():
            storage.save(refresh, device_marker(self._auth))
        logger.info("EPM %s: signed in with the device flow after %d polls", self.server, polls)
        return SignedIn(stored_in=storage.location, polls=polls)

    def request_code(self) -> DeviceCode:
        """Ask the identity domain for a device code and a user code."""
        form = {
            "client_id": self._auth.client_id,
            "response_type": "device_code",
            "scope": self._auth.scope,
        }
        status, body = self._send(self._auth.device_url, form, "device authorization")
        if status != 200:
            raise EpmError(
                f"EPM {self.server}: device authorization failed with HTTP {status}"
                f"{oauth_reason(body)}",
                permanent=status < 500,
                status_code=status,
            )
        try:
            return DeviceCode(
                device_code=str(body["device_code"]),
                user_code=str(body["user_code"]),
                verification_uri=str(body["verification_uri"]),
                verification_uri_complete=body.get("verification_uri_complete"),
                expires_in=float(body.get("expires_in") or DEFAULT_EXPIRES_IN),
                interval=float(body.get("interval") or DEFAULT_INTERVAL),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EpmError(
                f"EPM {self.server}: the device authorization answer lacks "
                f"device_code, user_code or verification_uri",
                permanent=True,
            ) from exc

    def wait_for_tokens(self, code: DeviceCode) -> tuple[dict[str, Any], int]:
        """Poll the token endpoint until the person signs in; (token answer, polls)."""
        interval = code.interval
        deadline = self._clock() + code.expires_in
        form = {
            "grant_type": DEVICE_GRANT,
            "device_code": code.device_code,
            "client_id": self._auth.client_id,
        }
        polls = 0
        while True:
            if self._clock() + interval > deadline:
                raise EpmError(
                    f"EPM {self.server}: the code {code.user_code} expired before the "
                    f"sign-in; run `epmpulse epm login {self.server}` again",
                    permanent=True,
                )
            self._sleep(interval)
            polls += 1
            status, body = self._send(self._auth.token_url, form, "token")
            if status == 200:
                return body, polls
            error = str(body.get("error", ""))
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                interval += SLOW_DOWN_STEP
                logger.info("EPM %s: asked to poll slower; every %.0f s", self.server, interval)
                continue
            raise self._refused(status, error, body, code)

    def _refused(self, status: int, error: str, body: dict[str, Any], code: DeviceCode) -> EpmError:
        if error == "access_denied":
            return EpmError(f"EPM {self.server}: the sign-in was declined", permanent=True)
        if error == "expired_token":
            return EpmError(
                f"EPM {self.server}: the code {code.user_code} expired before the sign-in; "
                f"run `epmpulse epm login {self.server}` again",
                permanent=True,
            )
        return EpmError(
            f"EPM {self.server}: the token endpoint refused the sign-in with HTTP {status}"
            f"{oauth_reason(body)}",
            permanent=True,
            status_code=status,
        )

    def _send(self, url: str, form: dict[str, str], what: str) -> tuple[int, dict[str, Any]]:
        """POST ``form`` to ``url``: (HTTP status, JSON object answered, or {})."""
        try:
            response = self._session.post(url, data=form, timeout=self._timeout)
        except requests.RequestException as exc:
            raise EpmError(
                f"EPM {self.server}: {what} endpoint unreachable ({exc.__class__.__name__})",
                permanent=False,
            ) from exc
        return response.status_code, json_object(response)


def sign_in(
    config: Config,
    server: str,
    emit: Emit,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SignedIn:
    """Sign in to the configured ``oauth_device`` server ``server`` (ValidationError if none)."""
    servers = config.estate.epm.servers
    device = sorted(name for name, s in servers.items() if isinstance(s.auth, DeviceAuth))
    choices = ", ".join(device) or "none (give a server auth: {type: oauth_device, ...})"
    entry = servers.get(server)
    if entry is None:
        hint = closest_match(server, list(servers))
        guess = f" (did you mean {hint}?)" if hint else ""
        raise ValidationError(
            f"no EPM server '{server}' in the configuration{guess}; "
            f"servers that sign in with oauth_device: {choices}"
        )
    if not isinstance(entry.auth, DeviceAuth):
        raise ValidationError(
            f"EPM server '{server}' uses auth type {entry.auth.type}; `epm login` is for "
            f"oauth_device servers: {choices}"
        )
    settings = config.settings
    session = build_session(
        entry.auth.token_url, pool_size=1, proxies=Proxies.from_settings(settings)
    )
    store: Store | None = None
    try:
        if settings.database_url is not None:
            store = open_store(settings)  # every instance reads the token from there
        login = DeviceLogin(
            server,
            entry.auth,
            session,
            timeout=(min(CONNECT_TIMEOUT, entry.timeout_seconds), entry.timeout_seconds),
            sleep=sleep,
            clock=clock,
        )
        return login.run(token_storage(settings, server, store), emit)
    finally:
        session.close()
        if store is not None:
            store.close()
