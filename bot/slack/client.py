"""The Slack Web API client, built once from the settings."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.config import Settings

TIMEOUT_SECONDS = 10


def retry_handlers(*, rate_limited: int = 2, server_errors: int = 2) -> list[RetryHandler]:
    """slack_sdk's own retry handlers: connection errors, 5xx, and 429 (honours Retry-After)."""
    handlers: list[RetryHandler] = [
        ConnectionErrorRetryHandler(max_retry_count=2),
        ServerErrorRetryHandler(max_retry_count=server_errors),
    ]
    if rate_limited:
        handlers.append(RateLimitErrorRetryHandler(max_retry_count=rate_limited))
    return handlers


def build_web_client(
    settings: Settings,
    *,
    rate_limited: int = 2,
    server_errors: int = 2,
    timeout: int = TIMEOUT_SECONDS,
) -> WebClient:
    """A WebClient for ``SLACK_API_URL`` with a timeout on every call and bounded retries."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=retry_handlers(rate_limited=rate_limited, server_errors=server_errors),
    )
