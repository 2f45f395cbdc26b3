"""Authentication against one EPM server: HTTP Basic or an OAuth 2 bearer token.

Each authenticator hands out the ``Authorization`` header for the next request.
OAuth access tokens are cached until 60 s before they expire, can be refreshed
ahead of time (:meth:`OAuthAuthenticator.refresh_if_due`, run by a scheduler job)
and are refreshed once after a 401 (:meth:`OAuthAuthenticator.after_401`).
Refreshes are single-flight: concurrent poller threads share one token request.

A confidential client authenticates with HTTP Basic ``client_id:client_secret`` and
also names its ``client_id`` in the form (identity domains and other servers that
look for it there accept both). A token endpoint that refuses Basic (401 or
``invalid_client``) is asked once more with ``client_id`` and ``client_secret`` in
the form (RFC 6749 §2.3.1), and that style is kept once it works.

With the refresh-token grant every refresh rotates the (single-use) refresh token;
the new one is persisted through :class:`~bot.epm.tokens.RefreshTokenFile` (or the store)
*before* the access token that came with it is handed out. An ``oauth_device`` server
works the same way once ``epmpulse epm login`` (:mod:`bot.epm.device`) has stored its
first refresh token; before that it answers "not signed in".

No secret appears in a repr, an exception message or a log line.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from bot.epm.tokens import RefreshTokenStorage
from bot.errors import EpmError
from bot.estate import BasicAuth, ClientCredentialsAuth, DeviceAuth, EpmAuth, RefreshTokenAuth

logger = logging.getLogger(__name__)

EXPIRY_MARGIN = 60.0  # seconds before expiry at which a cached access token is renewed
DEFAULT_EXPIRES_IN = 3600.0  # RFC 6749 makes expires_in optional
Clock = Callable[[], float]


class Authenticator(Protocol):
    """Supplies the ``Authorization`` header of EPM requests."""

    mode: str

    def header(self) -> str:
        """The ``Authorization`` header value for the next request."""

    def after_401(self, used: str) -> bool:
        """Drop the credential ``used`` after a 401; True when a retry may succeed."""

    def refresh_if_due(self, horizon: float) -> bool:
        """Renew a token that would go stale within ``horizon`` seconds; True if renewed."""


class BasicAuthenticator:
    """HTTP Basic credentials; a 401 cannot be fixed by retrying."""

    mode = "basic"

    def __init__(self, auth: BasicAuth) -> None:
        raw = f"{auth.username}:{auth.password.get_secret_value()}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode("ascii")
        self._username = auth.username

    def __repr__(self) -> str:
        return f"BasicAuthenticator(username={self._username!r})"

    def header(self) -> str:
        """The Basic header."""
        return self._header

    def after_401(self, used: str) -> bool:
        """Basic credentials that were refused stay refused."""
        return False

    def refresh_if_due(self, horizon: float) -> bool:
        """Basic credentials never expire."""
        return False


@dataclass(frozen=True)
class _AccessToken:
    value: str = field(repr=False)
    good_until: float  # clock time after which the cached token is no longer used


class OAuthAuthenticator:
    """Bearer tokens from an OAuth 2 token endpoint (refresh token, device or client)."""

    def __init__(
        self,
        server: str,
        auth: RefreshTokenAuth | ClientCredentialsAuth | DeviceAuth,
        session: requests.Session,
        *,
        timeout: tuple[float, float],
        token_file: RefreshTokenStorage | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if not isinstance(auth, ClientCredentialsAuth) and token_file is None:
            raise ValueError("the refresh-token grant needs a token file to persist rotations")
        self.mode: str = auth.type
        self.server = server
        self._auth = auth
        self._session = session
        self._timeout = timeout
        self._token_file = token_file
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _AccessToken | None = None
        self._unsaved_refresh: str | None = None  # rotated, but persisting it failed
        self._secret_in_form = False  # the token endpoint refused Basic but took the form

    def __repr__(self) -> str:
        return (
            f"OAuthAuthenticator(server={self.server!r}, mode={self.mode!r}, "
            f"client_id={self._auth.client_id!r})"
        )

    def header(self) -> str:
        """A Bearer header with a cached token, fetching a new one when due."""
        with self._lock:
            token = self._token
            if token is None or self._clock() >= token.good_until:
                token = self._fetch()
            return "Bearer " + token.value

    def after_401(self, used: str) -> bool:
        """Forget the token that got a 401 so the next :meth:`header` fetches a new one.

        Only the token actually used is dropped: when another thread already
        replaced it, its replacement is kept.
        """
        with self._lock:
            if self._token is not None and "Bearer " + self._token.value == used:
                logger.info("EPM %s: access token refused (401); fetching a new one", self.server)
                self._token = None
        return True

    def refresh_if_due(self, horizon: float) -> bool:
        """Fetch a new token now if the cached one would go stale within ``horizon`` s."""
        with self._lock:
            token = self._token
            if token is not None and self._clock() + horizon < token.good_until:
                return False
            self._fetch()
            return True

    # --- token requests (called with the lock held) ---------------------------------

    def _fetch(self) -> _AccessToken:
        auth = self._auth
        if isinstance(auth, ClientCredentialsAuth):
            form = {"grant_type": "client_credentials"}
            return self._accept(self._post(form, auth.client_secret.get_secret_value()))
        assert self._token_file is not None
        with self._token_file.locked():
            if isinstance(auth, DeviceAuth):
                return self._refresh_grant(self._token_file, device_marker(auth), None)
            secret = auth.client_secret.get_secret_value() if auth.client_secret else None
            return self._refresh_grant(
                self._token_file, auth.refresh_token.get_secret_value(), secret
            )

    def _refresh_grant(
        self, token_file: RefreshTokenStorage, configured: str, secret: str | None
    ) -> _AccessToken:
        if self._unsaved_refresh is not None:
            token_file.save(self._unsaved_refresh, configured)
            self._unsaved_refresh = None
        refresh = token_file.current(configured)
        if refresh == configured and isinstance(self._auth, DeviceAuth):
            raise EpmError(
                f"EPM {self.server}: not signed in; run `epmpulse epm login {self.server}`",
                permanent=True,
            )
        body = self._post({"grant_type": "refresh_token", "refresh_token": refresh}, secret)
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != refresh:
            try:
                token_file.save(rotated, configured)
            except EpmError:
                self._unsaved_refresh = rotated  # the old one is spent; never lose the new one
                raise
        return self._accept(body)

    def _post(self, form: dict[str, str], secret: str | None) -> dict[str, Any]:
        form["client_id"] = self._auth.client_id
        if self._auth.scope:
            form["scope"] = self._auth.scope
        if secret is None:  # a public client
            return self._token_body(self._send(form, None))
        if not self._secret_in_form:
            response = self._send(form, (self._auth.client_id, secret))
            if not _client_refused(response):
                return self._token_body(response)
            # Refused before the grant was looked at, so a refresh token is still unspent.
            logger.info(
                "EPM %s: token endpoint refused HTTP Basic client authentication; "
                "retrying with the client secret in the form",
                self.server,
            )
        response = self._send({**form, "client_secret": secret}, None)
        if response.status_code == 200 and not self._secret_in_form:
            self._secret_in_form = True
            logger.info("EPM %s: token endpoint takes the client secret in the form", self.server)
        return self._token_body(response)

    def _send(self, form: dict[str, str], basic: tuple[str, str] | None) -> requests.Response:
        try:
            return self._session.post(
                self._auth.token_url, data=form, auth=basic, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise EpmError(
                f"EPM {self.server}: token endpoint unreachable ({exc.__class__.__name__})",
                permanent=False,
            ) from exc

    def _token_body(self, response: requests.Response) -> dict[str, Any]:
        code = response.status_code
        body = json_object(response)
        if code == 200:  # _accept says what a 200 without a token lacks
            return body
        reason = oauth_reason(body)
        transient = code == 429 or code >= 500
        hint = ""
        if not transient and "invalid_grant" in reason:
            if self.mode == "oauth_refresh_token":
                hint = "; issue a new refresh token and configure it"
            elif self.mode == "oauth_device":
                hint = f"; sign in again with `epmpulse epm login {self.server}`"
        raise EpmError(
            f"EPM {self.server}: token request failed with HTTP {code}{reason}{hint}",
            permanent=not transient,
            status_code=code,
        )

    def _accept(self, body: dict[str, Any]) -> _AccessToken:
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise EpmError(f"EPM {self.server}: token answer has no access_token", permanent=True)
        try:
            lifetime = float(body.get("expires_in", DEFAULT_EXPIRES_IN))
        except (TypeError, ValueError):
            lifetime = DEFAULT_EXPIRES_IN
        # A token shorter-lived than twice the margin is kept for half its life instead.
        margin = EXPIRY_MARGIN if lifetime > 2 * EXPIRY_MARGIN else lifetime / 2
        self._token = _AccessToken(value, self._clock() + lifetime - margin)
        logger.info(
            "EPM %s: new access token (%s), valid for %.0f s", self.server, self.mode, lifetime
        )
        return self._token


def oauth_reason(body: object) -> str:
    """``": code (description)"`` of an OAuth error answer; never anything else in it."""
    if not isinstance(body, dict) or not body.get("error"):
        return ""
    reason = f": {body['error']}"
    if body.get("error_description"):
        reason += f" ({str(body['error_description'])[:200]})"
    return reason


def json_object(response: requests.Response) -> dict[str, Any]:
    """The JSON object ``response`` holds; {} for any other body."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _client_refused(response: requests.Response) -> bool:
    """Whether the token endpoint refused the client's credentials (RFC 6749 §5.2)."""
    if response.status_code == 401:
        return True
    return response.status_code == 400 and json_object(response).get("error") == "invalid_client"


def make_authenticator(
    server: str,
    auth: EpmAuth,
    session: requests.Session,
    *,
    timeout: tuple[float, float],
    token_file: RefreshTokenStorage,
    clock: Clock = time.monotonic,
) -> Authenticator:
    """The authenticator for a configured ``auth`` section."""
    if isinstance(auth, BasicAuth):
        return BasicAuthenticator(auth)
    return OAuthAuthenticator(
        server,
        auth,
        session,
        timeout=timeout,
        token_file=None if isinstance(auth, ClientCredentialsAuth) else token_file,
        clock=clock,
    )


def device_marker(auth: DeviceAuth) -> str:
    """What an ``oauth_device`` server's stored refresh token was issued for.

    It stands where ``oauth_refresh_token`` has its configured token: a token stored
    for another client (or token endpoint) is ignored, so changing either asks for a
    new sign-in. It holds no secret.
    """
    return f"oauth_device:{auth.client_id}@{auth.token_url}"
