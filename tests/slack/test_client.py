"""Retry-After is read in one place, for the canvas publisher and the Web API client."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.slack.client import retry_after, retry_after_seconds


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": ["2.5"]}, 2.5),
        ({"Content-Type": "application/json"}, None),
        (None, None),
    ],
)
def test_retry_after_is_read_whatever_the_spelling_or_shape(
    headers: dict[str, object] | None, seconds: float | None
) -> None:
    """Names are case-insensitive; a value may be a string or a list; absent is None."""
    assert retry_after_seconds(headers) == seconds


def test_a_retry_after_that_is_no_number_is_an_error() -> None:
    """A malformed Retry-After raises ValueError naming the value, so callers choose a wait."""
    with pytest.raises(ValueError, match="'soon'"):
        retry_after_seconds({"Retry-After": "soon"})


def _failure(status: int, error: str, headers: dict[str, str]) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="http://127.0.0.1/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": error},
        headers=headers,
        status_code=status,
    )
    return SlackApiError(error, response)


@pytest.mark.parametrize(
    ("failure", "wait"),
    [
        (_failure(429, "ratelimited", {"Retry-After": "7"}), 7.0),
        (_failure(429, "ratelimited", {"Retry-After": "0"}), 1.0),
        (_failure(429, "ratelimited", {}), 30.0),
        (_failure(429, "ratelimited", {"Retry-After": "soon"}), 30.0),
        (_failure(503, "service_unavailable", {"Retry-After": "7"}), None),
        (OSError("connection refused"), None),
    ],
)
def test_only_a_429_asks_for_a_wait(failure: Exception, wait: float | None) -> None:
    """A 429 waits its Retry-After (at least 1 s, the default when unreadable); others none."""
    assert retry_after(failure, default=30.0) == wait
