"""What the sandbox remembers: Web API calls, acks, posted messages, response_url posts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Identity:
    """The fixed names of the emulated workspace, app and bot."""

    bot_token: str
    app_token: str
    team_id: str = "T0SANDBOX"
    team_domain: str = "sandbox"
    app_id: str = "A0SANDBOX"
    bot_user_id: str = "U0SANDBOXBOT"
    bot_id: str = "B0SANDBOXBOT"
    # Slack still puts the (deprecated) verification token in every payload.
    verification_token: str = "sandbox-verification-token"  # noqa: S105  (fake)


@dataclass(frozen=True)
class Call:
    """One Web API request as the sandbox saw it and answered it."""

    method: str
    args: dict[str, Any]
    token: str | None
    at: float
    status: int
    response: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds the sandbox held the answer back (an injected delay)

    @property
    def ok(self) -> bool:
        """True when the answer was ``{"ok": true, ...}``."""
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        """Slack's error code of a refused call, else None."""
        error = self.response.get("error")
        return error if isinstance(error, str) else None


@dataclass(frozen=True)
class Ack:
    """The app's acknowledgement of one Socket Mode envelope."""

    envelope_id: str
    type: str
    payload: dict[str, Any] | None
    latency: float
    # Why Slack would reject this ack's response payload (e.g. ``errors`` naming a block
    # that is not an input block); None when Slack would accept it.
    refusal: str | None = None


@dataclass(frozen=True)
class ResponsePost:
    """One POST the app made to a ``response_url``."""

    url: str
    body: dict[str, Any]
    status: int
    at: float


@dataclass(frozen=True)
class PostedMessage:
    """A message as posted (or last updated) through ``chat.*``."""

    channel: str
    ts: str
    text: str | None
    blocks: list[dict[str, Any]] | None
    user: str | None = None
    thread_ts: str | None = None
    ephemeral: bool = False
    edited: bool = False


@dataclass(frozen=True)
class User:
    """A workspace member as ``users.info`` describes them."""

    id: str
    name: str
    real_name: str
    tz: str = "UTC"
    is_bot: bool = False
