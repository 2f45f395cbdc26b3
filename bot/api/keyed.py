"""What every keyed route of ``/api/v1`` shares, so each route states only its own.

:class:`KeyedRouter` puts its routes under ``/api/v1`` behind the guard
(:class:`~bot.api.guard.GuardedRoute`), documents the answers the guard and the store
can give (:data:`KEYED_RESPONSES`), names each operation after its function and counts
each route against its rate-limit group. :func:`call_service` is the one call a
handler makes into the thread pool, where the status service blocks on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

from fastapi import APIRouter, Request
from fastapi.types import DecoratedCallable
from starlette.concurrency import run_in_threadpool

from bot.api.context import API_PREFIX, context_of
from bot.api.guard import GuardedRoute, limit_group
from bot.api.openapi import operation_id
from bot.api.schemas import (
    BadRequest,
    InvalidKey,
    MissingAuth,
    RateLimited,
    StoreUnavailable,
    TooLarge,
)
from bot.service import StatusService

P = ParamSpec("P")
R = TypeVar("R")

_LIMIT_HEADERS = {
    "X-RateLimit-Limit": {
        "description": "Requests allowed per window",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the window",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "Unix time when the window has room again",
        "schema": {"type": "integer"},
    },
}
KEYED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"headers": _LIMIT_HEADERS},
    400: {"model": BadRequest, "description": "Invalid input"},
    401: {"model": MissingAuth, "description": "No bearer key"},
    403: {"model": InvalidKey, "description": "Unknown key"},
    413: {"model": TooLarge, "description": "Body over 64 KiB"},
    429: {
        "model": RateLimited,
        "description": "Rate limit used up",
        "headers": {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}},
            **_LIMIT_HEADERS,
        },
    },
    503: {"model": StoreUnavailable, "description": "The store failed; nothing changed"},
}


class KeyedRouter(APIRouter):
    """Routes under ``/api/v1`` that need a key, tagged ``tag``.

    ``responses`` are added to (or replace) :data:`KEYED_RESPONSES` for every route.
    """

    def __init__(
        self, tag: str, responses: Mapping[int | str, dict[str, Any]] | None = None
    ) -> None:
        super().__init__(
            prefix=API_PREFIX,
            route_class=GuardedRoute,
            responses={**KEYED_RESPONSES, **(responses or {})},
            tags=[tag],
            generate_unique_id_function=operation_id,
        )

    def read(self, path: str, **route: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """A GET route counted against the ``read`` limit."""
        return self.get(path, openapi_extra=limit_group("read"), **route)

    def write(
        self, path: str, group: str, **route: Any
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """A POST route counted against the limit ``group``."""
        return self.post(path, openapi_extra=limit_group(group), **route)


async def call_service(
    request: Request,
    function: Callable[Concatenate[StatusService, P], R],
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """``function(service, *args, **kwargs)`` in the thread pool: the service blocks on disk.

    Handlers read the context from the request rather than through a FastAPI
    sub-dependency: each of those costs a dependency solve on every request
    (``bench/api.py``).
    """
    return await run_in_threadpool(function, context_of(request).service, *args, **kwargs)
