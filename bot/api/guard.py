"""The guard every keyed route passes before FastAPI reads its body.

Order (SPEC §7): authenticate (401/403), count against the key's rate limit (429),
then read the body with a 64 KiB cap (413), refuse unknown query parameters (400),
and only then hand the request to FastAPI to parse and validate. Routes opt in with
``route_class=GuardedRoute`` and name their limit group with :func:`limit_group`.

Every body the API takes is JSON, so a body is parsed as JSON whatever its
``Content-Type``: scripts often send none (``requests.post(url, data=json.dumps(…))``),
``application/x-www-form-urlencoded`` (``curl -d``) or ``text/plain``, and FastAPI
would otherwise hand such a body to the model as raw bytes and refuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.types import Message, Scope

from bot.api.context import context_of
from bot.api.errors import ApiError, ErrorCode
from bot.api.ratelimit import GROUPS

MAX_BODY_BYTES = 64 * 1024
GROUP_EXTENSION = "x-rate-limit-group"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def limit_group(group: str) -> dict[str, Any]:
    """``openapi_extra`` naming a route's rate-limit group (also shown in the OpenAPI)."""
    if group not in GROUPS:
        raise ValueError(f"unknown rate-limit group {group!r}")
    return {GROUP_EXTENSION: group}


class GuardedRoute(APIRoute):
    """An APIRoute that authenticates, rate-limits and caps the body before parsing it."""

    def get_route_handler(self) -> Handler:
        """Wrap FastAPI's handler (which reads and validates the body) in the guard."""
        group = (self.openapi_extra or {}).get(GROUP_EXTENSION)
        if group not in GROUPS:
            raise ValueError(f"route {self.path} needs openapi_extra=limit_group(…)")
        parse_and_call = super().get_route_handler()
        known_query = frozenset(param.alias for param in self.dependant.query_params)
        takes_body = self.body_field is not None

        async def guarded(request: Request) -> Response:
            context = context_of(request)
            key_name = context.keys.identify(request.headers.get("authorization"))
            request.state.key_name = key_name
            decision = await context.limiter.hit(group, key_name)
            request.state.limit_headers = decision.headers()
            if not decision.allowed:
                raise ApiError(
                    429,
                    ErrorCode.RATE_LIMITED,
                    f"Rate limit of {decision.limit} requests for this endpoint used up; "
                    f"retry after {decision.retry_after()} s.",
                )
            body = await read_capped_body(request, MAX_BODY_BYTES)
            _refuse_unknown_query(request, known_query)
            scope = _as_json(request.scope) if takes_body and body else request.scope
            response = await parse_and_call(Request(scope, _replay(body)))
            response.headers.update(request.state.limit_headers)
            return response

        return guarded


async def read_capped_body(request: Request, limit: int) -> bytes:
    """Read the whole body, refusing with 413 as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect as exc:
        # Nobody will read the answer; this keeps a dropped upload out of the error log.
        raise ApiError(
            400, ErrorCode.INVALID_REQUEST, "The client went away before sending the body."
        ) from exc
    return b"".join(chunks)


def _refuse_unknown_query(request: Request, known: frozenset[str]) -> None:
    # A misspelt filter (?lmit=5) must not be silently ignored.
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        takes = ", ".join(sorted(known)) or "no query parameters"
        raise ApiError(
            400,
            ErrorCode.INVALID_REQUEST,
            f"Unknown query parameter(s) {shown}; this endpoint takes {takes}.",
        )


def _as_json(scope: Scope) -> Scope:
    """``scope`` with ``Content-Type: application/json`` unless it already names JSON.

    A copy: the error handlers still see what the client sent (and can say so).
    """
    headers = scope["headers"]
    declared = [value for name, value in headers if name == b"content-type"]
    if len(declared) == 1 and _names_json(declared[0]):
        return scope
    kept = [(name, value) for name, value in headers if name != b"content-type"]
    return {**scope, "headers": [*kept, (b"content-type", b"application/json")]}


def _names_json(content_type: bytes) -> bool:
    # The test FastAPI applies: application/json or application/<anything>+json.
    media = content_type.split(b";", 1)[0].strip().lower()
    kind, _, subtype = media.partition(b"/")
    return kind == b"application" and (subtype == b"json" or subtype.endswith(b"+json"))


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, ErrorCode.PAYLOAD_TOO_LARGE, f"The request body is larger than {limit // 1024} KiB."
    )


def _replay(body: bytes) -> Callable[[], Coroutine[Any, Any, Message]]:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            # FastAPI never reads twice; behave like a client that went away.
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
