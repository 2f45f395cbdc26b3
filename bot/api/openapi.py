"""Corrections to the OpenAPI document FastAPI generates, so it says what the API does.

* FastAPI documents a 422 for every route with input; invalid input answers 400 here
  (its models are already declared per route), so 422 and its schemas are removed.
* The bearer key is checked by :mod:`bot.api.guard` before FastAPI runs, not by a
  FastAPI security dependency, so the scheme is added to every keyed operation here.
* The 64 KiB body cap is enforced by the guard, not by a schema, so every request body
  states it: ``x-max-body-bytes`` (machine-readable) and its description, next to the
  operation's 413. A fuzzer or client reading the document knows that a body over the
  cap is refused with 413 before it is parsed.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from bot.api.guard import GROUP_EXTENSION, MAX_BODY_BYTES

SCHEME = "apiKey"
BODY_LIMIT_EXTENSION = "x-max-body-bytes"
_BODY_LIMIT_NOTE = (
    f"At most {MAX_BODY_BYTES // 1024} KiB ({MAX_BODY_BYTES} bytes); "
    "a larger body is refused with 413 PAYLOAD_TOO_LARGE before it is parsed."
)
_BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "A key from EPMPULSE_API_KEYS: `Authorization: Bearer <key>`.",
}


def operation_id(route: APIRoute) -> str:
    """The operationId of a route: its function's name (``set_status``)."""
    return route.name


def correct_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the corrected document (built once, then cached)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _correct(generate())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _correct(document: dict[str, Any]) -> None:
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
            if GROUP_EXTENSION in operation:
                operation["security"] = [{SCHEME: []}]
            if "requestBody" in operation:
                _state_body_limit(operation)
    components = document.setdefault("components", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(name, None)
    components.setdefault("securitySchemes", {})[SCHEME] = _BEARER


def _state_body_limit(operation: dict[str, Any]) -> None:
    body = operation["requestBody"]
    body[BODY_LIMIT_EXTENSION] = MAX_BODY_BYTES
    body["description"] = " ".join(filter(None, (body.get("description"), _BODY_LIMIT_NOTE)))
    too_large = operation.get("responses", {}).get("413")
    if too_large is not None:
        kib = MAX_BODY_BYTES // 1024
        too_large["description"] = f"Body over {kib} KiB ({MAX_BODY_BYTES} bytes)"
