"""The Slack Web API client, built once from the settings."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from http.client import HTTPException
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryHandler, RetryState
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.lease import Lease
from bot.proxy import Proxies
from bot.settings import Settings

TIMEOUT_SECONDS = 10
# The longest Retry-After a leader's read waits out in place (start-up lookups).
MAX_READ_RETRY_AFTER_SECONDS = 5.0

# What a Web API call may raise besides a result: Slack's own errors, urllib's URLError
# and timeouts (OSErrors), and a malformed or cut-off answer (e.g. IncompleteRead).
WEB_API_ERRORS = (SlackClientError, OSError, HTTPException)


def retry_after_seconds(headers: Mapping[str, Any] | None) -> float | None:
    """The ``Retry-After`` header in seconds; None when absent.

    Header names are matched case-insensitively; a value may be a string or a list of
    them (slack_sdk's retry handlers see lists). Raises ValueError for a value that is
    not a number of seconds.
    """
    for name, value in (headers or {}).items():
        if name.lower() != "retry-after":
            continue
        first = value[0] if isinstance(value, list | tuple) and value else value
        try:
            return float(first)
        except (TypeError, ValueError):
            raise ValueError(f"Retry-After is not a number of seconds: {first!r}") from None
    return None


def retry_after(exc: BaseException, *, default: float) -> float | None:
    """How long Slack asked to wait after the failed call ``exc``; None unless it is a 429.

    The ``Retry-After`` header in seconds, at least 1; ``default`` when it is missing or
    is not a number.
    """
    if not isinstance(exc, SlackApiError) or exc.response is None:
        return None
    if exc.response.status_code != 429 and exc.response.get("error") != "ratelimited":
        return None
    try:
        seconds = retry_after_seconds(exc.response.headers)
    except ValueError:
        return default
    return default if seconds is None else max(1.0, seconds)


def retry_handlers(*, rate_limited: int = 2, server_errors: int = 2) -> list[RetryHandler]:
    """slack_sdk's own retry handlers: connection errors, 5xx, and 429 (honours Retry-After)."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        ServerErrorRetryHandler(max_retry_count=server_errors),
        *([RateLimitErrorRetryHandler(max_retry_count=rate_limited)] if rate_limited else []),
    ]


def build_web_client(
    settings: Settings,
    *,
    rate_limited: int = 2,
    server_errors: int = 2,
    timeout: int = TIMEOUT_SECONDS,
) -> WebClient:
    """A WebClient for ``SLACK_API_URL`` with a timeout on every call and bounded retries."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=retry_handlers(rate_limited=rate_limited, server_errors=server_errors),
    )
    client.proxy = slack_proxy(settings)
    return client


def slack_proxy(settings: Settings) -> str | None:
    """The proxy of the Slack Web API and Socket Mode (SPEC §16); None: direct.

    Socket Mode's host is Slack's too, so ``SLACK_API_URL`` decides for both.
    """
    # Assigned after construction: slack_sdk falls back to HTTPS_PROXY when given None,
    # ignoring NO_PROXY; None set afterwards leaves urllib to honour NO_PROXY.
    return Proxies.from_settings(settings).for_url(settings.slack_api_url)


# Calls whose effect people see: sent only under a fresh lease, and never retried in place.
WRITE_METHODS = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.delete",
        "canvases.create",
        "canvases.edit",
        "conversations.canvases.create",
    }
)


class ReadsOnly(RetryHandler):
    """``inner``'s retries for reads only: a write retried after a sleep would go out
    without a fresh lease check (the part backs off and checks again instead).

    A 429 is retried in place only when its Retry-After is at most ``max_wait`` seconds:
    a longer wait would hold the calling thread (and a clean shutdown) in a sleep, so the
    caller gets the 429 as a ``SlackApiError`` instead.
    """

    def __init__(self, inner: RetryHandler, max_wait: float = MAX_READ_RETRY_AFTER_SECONDS) -> None:
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self._inner = inner
        self._max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = request.url.rstrip("/").rsplit("/", 1)[-1]
        if method in WRITE_METHODS or not self._inner.can_retry(
            state=state, request=request, response=response, error=error
        ):
            return False
        if response is None or response.status_code != 429:
            return True
        try:
            wait = retry_after_seconds(response.headers)
        except ValueError:
            return False  # slack_sdk's own handler could not read it either
        return wait is None or wait <= self._max_wait  # none: slack_sdk waits about a second

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        """Wait as ``inner`` would (Retry-After for a 429)."""
        self._inner.prepare_for_next_attempt(
            state=state, request=request, response=response, error=error
        )


class LeasedWebClient(WebClient):
    """The WebClient of leader-only parts: each call is checked against the lease first.

    A write (:data:`WRITE_METHODS`) waits for its answer at most the lease left, so it
    cannot land after the next leader's wait, and is never retried in place; reads keep
    the usual bounded retries. A call made without a fresh lease raises
    :class:`~bot.lease.LeaseLostError` and reaches no one. One call at a time per client
    (each leader-only part has its own).
    """

    def __init__(self, lease: Lease, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lease = lease
        self._timeout = self.timeout
        self._one_call = threading.Lock()

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        """Check the lease, then call ``api_method``."""
        with self._one_call:
            left = self.lease.remaining()
            if left <= 0:
                self.lease.check(api_method)  # raises LeaseLostError
            wait = min(self._timeout, left) if api_method in WRITE_METHODS else self._timeout
            self.timeout = wait  # type: ignore[assignment]  # urllib takes a float; slack_sdk says int
            return super().api_call(api_method, **kwargs)


def build_leased_client(
    settings: Settings, lease: Lease, *, timeout: int = TIMEOUT_SECONDS
) -> LeasedWebClient:
    """A :class:`LeasedWebClient` for ``SLACK_API_URL``: retries for reads only."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    handlers = retry_handlers()
    client = LeasedWebClient(
        lease,
        token=token,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[ReadsOnly(h) for h in handlers],
    )
    client.proxy = slack_proxy(settings)
    return client
