"""API keys: who is calling, decided from ``Authorization: Bearer <key>``.

Keys come from ``EPMPULSE_API_KEYS`` as ``name -> key``. A presented key is compared
with *every* configured key in constant time (digests of equal length, so neither
the key's length nor which key matched shows in the timing). Only the key's name
ever leaves this module; the caller is recorded as ``api:<name>``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping

from fastapi import Request
from pydantic import SecretStr

from bot.api.errors import ApiError, ErrorCode

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="epmpulse"'}


class KeyRing:
    """The configured API keys, matched in constant time."""

    def __init__(self, keys: Mapping[str, SecretStr]) -> None:
        self._digests = [(name, _digest(key.get_secret_value())) for name, key in keys.items()]

    def __len__(self) -> int:
        return len(self._digests)

    def identify(self, authorization: str | None) -> str:
        """Return the name of the key in an ``Authorization`` header value.

        Raises ApiError: 401 MISSING_AUTH when the header is absent or not a bearer
        token (or no keys are configured at all), 403 INVALID_KEY for an unknown key.
        """
        if not self._digests:
            raise ApiError(
                401,
                ErrorCode.MISSING_AUTH,
                "No API keys are configured (EPMPULSE_API_KEYS), so the API accepts no "
                "authenticated requests.",
                headers=CHALLENGE,
            )
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise ApiError(
                401,
                ErrorCode.MISSING_AUTH,
                "Send the API key as 'Authorization: Bearer <key>'.",
                headers=CHALLENGE,
            )
        presented = _digest(token)
        found: str | None = None
        for name, digest in self._digests:
            # No early exit: every key is compared, whichever matches.
            if secrets.compare_digest(presented, digest) and found is None:
                found = name
        if found is None:
            raise ApiError(403, ErrorCode.INVALID_KEY, "The API key is not valid.")
        return found


def caller_of(request: Request) -> str:
    """The ``api:<name>`` of the key that authenticated this request (set by the guard)."""
    return f"api:{request.state.key_name}"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
