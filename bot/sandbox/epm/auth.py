"""Credentials of the EPM sandbox: HTTP Basic users and an OAuth 2 token service.

The token service behaves like the OCI IAM identity domain in front of EPM Cloud
(`POST /oauth2/v1/token`, form encoded): `grant_type=refresh_token` rotates the
refresh token on every use (a consumed or unknown one answers 400 `invalid_grant`)
and `grant_type=client_credentials` issues an access token only. The device
grant (RFC 8628, `POST /oauth2/v1/device` first) is in
:mod:`bot.sandbox.epm.device`. Clients
authenticate with HTTP Basic `client_id:client_secret` or form `client_id`
(+ `client_secret`); a form `client_id` without a secret is a public client,
which may only refresh.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.sandbox.epm.device import DEVICE_GRANT, DeviceAuthorizations

TokenReply = tuple[int, dict[str, Any]]


@dataclass
class _AccessToken:
    client_id: str
    expires_at: float


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """Return (user, password) from an `Authorization: Basic …` header, or None."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def same(given: str, expected: str) -> bool:
    """Compare two secrets in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())


class OAuthServer:
    """Thread-safe registry of OAuth clients, access tokens and rotating refresh tokens."""

    def __init__(self, *, expires_in: int, clock: Callable[[], float]) -> None:
        self.expires_in = expires_in
        self._clock = clock
        self._lock = threading.Lock()
        self._clients: dict[str, str] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, str] = {}  # live refresh token -> client id
        self._consumed: set[str] = set()
        self.devices = DeviceAuthorizations(clock)

    def register_client(self, client_id: str, client_secret: str) -> None:
        """Register (or re-key) a confidential client."""
        with self._lock:
            self._clients[client_id] = client_secret

    def issue_refresh_token(self, client_id: str) -> str:
        """Mint a fresh refresh token for a registered client, as an admin would."""
        with self._lock:
            self._require_client(client_id)
            return self._new_refresh(client_id)

    def issue_access_token(self, client_id: str, expires_in: int | None = None) -> str:
        """Mint an access token for a registered client without a token request."""
        with self._lock:
            self._require_client(client_id)
            return self._new_access(
                client_id, self.expires_in if expires_in is None else expires_in
            )

    def live_refresh_tokens(self, client_id: str) -> list[str]:
        """Return the refresh tokens of a client that have not been used yet."""
        with self._lock:
            return [token for token, owner in self._refresh.items() if owner == client_id]

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired."""
        with self._lock:
            for token in self._access.values():
                token.expires_at = float("-inf")

    def access_token_valid(self, token: str) -> bool:
        """Tell whether `token` is a known, unexpired access token."""
        with self._lock:
            entry = self._access.get(token)
            return entry is not None and self._clock() < entry.expires_at

    def token_request(self, form: Mapping[str, str], authorization: str | None) -> TokenReply:
        """Answer one token-endpoint request: (HTTP status, JSON body)."""
        basic = parse_basic(authorization)
        client_id, secret = (
            basic if basic else (form.get("client_id", ""), form.get("client_secret"))
        )
        grant = form.get("grant_type", "")
        with self._lock:
            known = self._clients.get(client_id)
            if known is None or (secret is not None and not same(secret, known)):
                return 401, _error("invalid_client", "Client authentication failed.")
            if grant == "refresh_token":
                return self._refresh_grant(client_id, form.get("refresh_token", ""), form)
            if grant == DEVICE_GRANT:
                return self._device_grant(client_id, form)
            if grant == "client_credentials":
                if secret is None:
                    return 401, _error("invalid_client", "A client secret is required.")
                return 200, self._token_body(client_id, form, refresh=False)
            if not grant:
                return 400, _error("invalid_request", "grant_type is required.")
            return 400, _error("unsupported_grant_type", f"Unsupported grant type {grant}.")

    def device_request(
        self, form: Mapping[str, str], authorization: str | None, verification_uri: str
    ) -> TokenReply:
        """Answer a device authorization request (Oracle: all three fields required)."""
        basic = parse_basic(authorization)
        client_id, secret = (
            basic if basic else (form.get("client_id", ""), form.get("client_secret"))
        )
        with self._lock:
            known = self._clients.get(client_id)
        if known is None or (secret is not None and not same(secret, known)):
            return 401, _error("invalid_client", "Client authentication failed.")
        if form.get("response_type") != "device_code":
            return 400, _error("invalid_request", "response_type must be device_code.")
        if not form.get("scope"):
            return 400, _error("invalid_request", "scope is required.")
        return 200, self.devices.issue(client_id, verification_uri)

    def _device_grant(self, client_id: str, form: Mapping[str, str]) -> TokenReply:
        outcome, _user = self.devices.poll(form, client_id)
        if outcome == "approved":
            return 200, self._token_body(client_id, form, refresh=True)
        errors = {
            "pending": ("authorization_pending", "The user has not signed in yet."),
            "slow_down": ("slow_down", "Polling too often; wait 5 s longer between polls."),
            "expired": ("expired_token", "The device code has expired."),
            "denied": ("access_denied", "The user declined the sign-in."),
            "invalid": ("invalid_grant", "The device code is invalid."),
        }
        return 400, _error(*errors[outcome])

    def _refresh_grant(self, client_id: str, token: str, form: Mapping[str, str]) -> TokenReply:
        if not token:
            return 400, _error("invalid_request", "refresh_token is required.")
        owner = self._refresh.get(token)
        if owner != client_id:
            reason = "has already been used" if token in self._consumed else "is invalid"
            return 400, _error("invalid_grant", f"The refresh token {reason}.")
        del self._refresh[token]
        self._consumed.add(token)
        return 200, self._token_body(client_id, form, refresh=True)

    def _token_body(
        self, client_id: str, form: Mapping[str, str], *, refresh: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self._new_access(client_id, self.expires_in),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        if refresh:
            body["refresh_token"] = self._new_refresh(client_id)
        if form.get("scope"):
            body["scope"] = form["scope"]
        return body

    def _require_client(self, client_id: str) -> None:
        if client_id not in self._clients:
            raise ValueError(f"client {client_id!r} is not registered")

    def _new_access(self, client_id: str, expires_in: int) -> str:
        token = "at-" + secrets.token_urlsafe(24)
        self._access[token] = _AccessToken(client_id, self._clock() + expires_in)
        return token

    def _new_refresh(self, client_id: str) -> str:
        token = "rt-" + secrets.token_urlsafe(24)
        self._refresh[token] = client_id
        return token


def _error(code: str, description: str) -> dict[str, Any]:
    return {"error": code, "error_description": description}
