"""Retry-After is read in one place, for the canvas publisher and the Web API client."""

from __future__ import annotations

import pytest

from bot.slack.client import retry_after_seconds


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
