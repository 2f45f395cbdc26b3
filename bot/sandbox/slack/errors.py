"""The exceptions of the Slack sandbox, in one tree.

    SandboxError              base of everything below
    ├── ApiError              a Web API refusal, sent to the client as ``{"ok": false, ...}``
    └── AckTimeout            no Socket Mode ack arrived in time (also a ``TimeoutError``)

Mistakes in how a test drives the sandbox (an unknown view, a value a select menu does not
offer) raise plain ``ValueError``/``KeyError``: Slack itself would never send such a payload.
"""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """Base class of every Slack sandbox error."""


class ApiError(SandboxError):
    """A refusal the way Slack phrases it: an error code, HTTP status and optional detail.

    ``messages`` become ``response_metadata.messages`` (Slack's schema-violation notes such as
    ``[ERROR] must be less than 25 characters [json-pointer:/view/title/text]``).
    """

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        messages: list[str] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(error if not messages else f"{error}: {'; '.join(messages)}")
        self.error = error
        self.status = status
        self.messages = list(messages or [])
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        """The JSON body Slack would answer with."""
        body: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            body["response_metadata"] = {"messages": list(self.messages)}
        return body


class AckTimeout(SandboxError, TimeoutError):
    """The app did not acknowledge a Socket Mode envelope within the allowed time."""


def schema_error(text: str, pointer: str) -> str:
    """Format one schema violation the way Slack does in ``response_metadata.messages``."""
    return f"[ERROR] {text} [json-pointer:{pointer}]"


def invalid_arguments(text: str, pointer: str) -> ApiError:
    """An ``invalid_arguments`` refusal carrying one schema violation."""
    return ApiError("invalid_arguments", messages=[schema_error(text, pointer)])
