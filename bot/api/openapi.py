"""Corrections to the OpenAPI document FastAPI generates, so it says what the API does.

* FastAPI documents a 422 for every route with input; invalid input answers 400 here
  (its models are already declared per route), so 422 and its schemas are removed.
* The bearer key is checked by :mod:`bot.api.guard` before FastAPI runs, not by a
  FastAPI security dependency, so the scheme is added to every keyed operation here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from bot.api.guard import GROUP_EXTENSION

SCHEME = "apiKey"
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
    components = document.setdefault("components", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(name, None)
    components.setdefault("securitySchemes", {})[SCHEME] = _BEARER
