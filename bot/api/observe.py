"""The API's outermost layer: one log line and one metric per request, and the error boundary.

A pure ASGI middleware, so it sees every request (also 404s and failures of the
guard) and the final status code. Unexpected exceptions end here: logged once with
their traceback and answered with a 500 in the API's error shape.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.api.errors import ErrorCode, error_response
from bot.metrics import Metrics

logger = logging.getLogger(__name__)
UNMATCHED = "unmatched"


class ObserveMiddleware:
    """Logs and counts each HTTP request by route template and status code."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, then log and count it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def observed_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception:  # the error boundary: a bug, never bad input
            logger.exception("%s %s failed", scope["method"], scope["path"])
            status = 500
            if not response_started:
                response = error_response(
                    500, ErrorCode.INTERNAL_ERROR, "Internal error; it has been logged."
                )
                await response(scope, receive, send)
        finally:
            route = _route_template(scope)
            self.metrics.api_requests.labels(route=route, code=str(status)).inc()
            key_name = scope.get("state", {}).get("key_name", "-")
            logger.info(
                "%s %s %d %.1fms key=%s",
                scope["method"],
                route,
                status,
                (time.perf_counter() - started) * 1000,
                key_name,
            )


def _route_template(scope: Scope) -> str:
    # The template, never a raw path with parameters: those would give unbounded labels.
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    # Routes FastAPI adds itself (OpenAPI, docs) record only their endpoint; their paths
    # have no parameters.
    return str(scope["path"]) if "endpoint" in scope else UNMATCHED
