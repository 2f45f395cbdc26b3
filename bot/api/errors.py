"""How the REST API fails: one error type, the error codes and the exception handlers.

Every failure leaves the API as ``{"ok": false, "error": {"code", "message"}}``
(SPEC §7). Errors are translated here, at the HTTP boundary:

    ApiError                      raised by the API's own layers (auth, limits, body cap)
    bot.errors.ValidationError    bad input caught by the status service -> 400 + its code
    bot.errors.StoreError         the data directory failed -> 503 STORE_UNAVAILABLE
    RequestValidationError        FastAPI's 422 for malformed input -> 400 INVALID_REQUEST
    HTTPException                 routing (404/405) and body parsing failures

Anything else is a bug; :mod:`bot.api.observe` answers it with a 500 and logs the
traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute

from bot.errors import StoreError, ValidationError

logger = logging.getLogger(__name__)
MAX_REPORTED_PROBLEMS = 5


class ErrorCode(StrEnum):
    """Every ``error.code`` the API answers with."""

    MISSING_AUTH = "MISSING_AUTH"
    INVALID_KEY = "INVALID_KEY"
    INVALID_REQUEST = "INVALID_REQUEST"
    INVALID_APP = "INVALID_APP"
    INVALID_DOMAIN = "INVALID_DOMAIN"
    INVALID_STATUS = "INVALID_STATUS"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    UNHEALTHY = "UNHEALTHY"
    JOB_RUNNING = "JOB_RUNNING"  # POST /jobs: see bot.api.jobs
    EPM_ERROR = "EPM_ERROR"
    EPM_NO_ANSWER = "EPM_NO_ANSWER"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class ApiError(Exception):
    """A request the API refuses, with its HTTP status, code, message and extra headers."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_body(code: ErrorCode, message: str) -> dict[str, Any]:
    """The JSON body of a failure."""
    return {"ok": False, "error": {"code": code.value, "message": message}}


def error_response(
    status: int, code: ErrorCode, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A failure response in the API's error shape."""
    return JSONResponse(error_body(code, message), status_code=status, headers=dict(headers or {}))


def install_error_handlers(app: FastAPI, routes: Sequence[BaseRoute]) -> None:
    """Answer every expected failure of ``app`` in the API's error shape.

    ``routes`` are the app's routes, used to list every allowed method on a 405.
    """
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ValidationError, _invalid_input)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(RequestValidationError, _malformed_request)
    app.add_exception_handler(HTTPException, _HttpErrors(routes))


def _respond(
    request: Request,
    status: int,
    code: ErrorCode,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    # A keyed request that passed the rate limit reports its window on failures too.
    window: Mapping[str, str] = getattr(request.state, "limit_headers", {})
    return error_response(status, code, message, {**window, **(headers or {})})


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _respond(request, exc.status, exc.code, exc.message, exc.headers)


async def _invalid_input(request: Request, exc: Exception) -> JSONResponse:
    try:
        code = ErrorCode(getattr(exc, "code", ErrorCode.INVALID_REQUEST))
    except ValueError:
        code = ErrorCode.INVALID_REQUEST
    return _respond(request, 400, code, str(exc))


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    # Nothing was changed; the client may retry. Operators need to hear about it though.
    logger.error("%s %s: the store failed: %s", request.method, request.url.path, exc)
    return _respond(
        request,
        503,
        ErrorCode.STORE_UNAVAILABLE,
        "The status store is unavailable; nothing changed.",
    )


async def _malformed_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    message = describe_problems(errors)
    # Any Content-Type is parsed as JSON (bot.api.guard); a form or text body that is not
    # JSON most likely came from a client that meant to send something else.
    content_type = request.headers.get("content-type", "")
    not_json = any(error.get("type") == "json_invalid" for error in errors)
    if not_json and "json" not in content_type.lower():
        message += " Send the body as JSON with 'Content-Type: application/json'."
    return _respond(request, 400, ErrorCode.INVALID_REQUEST, message)


_HTTP_CODES = {
    400: ErrorCode.INVALID_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
}


class _HttpErrors:
    """Routing and body-parsing failures (404, 405, 400, 413) in the API's error shape."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._routes = list(routes)

    async def __call__(self, request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = _HTTP_CODES.get(exc.status_code, ErrorCode.INVALID_REQUEST)
        status = exc.status_code if exc.status_code in _HTTP_CODES else 400
        headers = dict(exc.headers or {})
        message = str(exc.detail)
        if status == 404:
            message = "No such endpoint; see /api/v1/docs."
        elif status == 405:
            # Starlette names only the first route on the path; GET and POST /status are two.
            headers["Allow"] = ", ".join(self._allowed_methods(request))
            message = f"This endpoint accepts only {headers['Allow']}; see /api/v1/docs."
        return _respond(request, status, code, message, headers)

    def _allowed_methods(self, request: Request) -> list[str]:
        # Every route on this path; a literal path (/status/batch) hides templates it
        # happens to fit (/status/{app}).
        scope = {**request.scope, "method": "", "path_params": {}}
        matched = [(r, child) for r in self._routes for match, child in [r.matches(scope)]]
        fitting = [(r, child) for r, child in matched if child]
        literal = [r for r, child in fitting if not child.get("path_params")]
        chosen = literal or [r for r, _ in fitting]
        return sorted({m for r in chosen for m in getattr(r, "methods", None) or ()})


def describe_problems(errors: Sequence[Any]) -> str:
    """One readable sentence from pydantic/FastAPI validation errors (never echoing input)."""
    parts = []
    for error in errors[:MAX_REPORTED_PROBLEMS]:
        location = _location(error.get("loc", ()))
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            detail = (error.get("ctx") or {}).get("error")
            location = "body"
            message = f"not valid JSON ({detail})" if detail else "not valid JSON"
        elif error.get("type") == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{location}: {message}" if location else message)
    more = len(errors) - MAX_REPORTED_PROBLEMS
    suffix = f" (and {more} more)" if more > 0 else ""
    return "Invalid request: " + "; ".join(parts) + suffix + "."


def _location(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "body" and not text:
            text = "body"
        else:
            text = f"{text}.{part}" if text and text != "body" else str(part)
    return text
