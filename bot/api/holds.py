"""``POST /api/v1/holds``: hold or release a domain's automatic start (SPEC §17).

The same :mod:`bot.close.holds` calls as ``/epmpulse hold`` and ``/epmpulse release``;
the write key authorises it and the request counts against the key's ``status`` limit.
A domain whose job does not start by itself answers 400 ``INVALID_DOMAIN`` naming those
that do; holding a domain that already started by itself in this close answers 400
``INVALID_REQUEST``. Nothing is changed by a refused request.
"""

from __future__ import annotations

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from bot.api.auth import caller_of
from bot.api.context import context_of
from bot.api.keyed import KeyedRouter, call_service
from bot.api.schemas import Ok
from bot.close import holds


class HoldRequest(BaseModel):
    """Hold (``hold: true``, the default) or release one domain's automatic start."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"app": "FCCS", "domain": "Consolidation", "hold": True}]},
    )

    app: str = Field(min_length=1, max_length=100, description="A configured app, e.g. FCCS.")
    domain: str = Field(
        min_length=1, max_length=100, description="A domain whose job has auto_start."
    )
    hold: bool = Field(default=True, description="true: hold it; false: release it.")


class HoldState(BaseModel):
    """The domain's hold after the request."""

    app: str
    domain: str
    held: bool = Field(description="Whether its automatic start is held now.")
    changed: bool = Field(description="False when it already was as asked.")
    period: str = Field(description="The close the hold belongs to, YYYY-MM.")


class HoldResponse(Ok[HoldState]):
    """The hold, durable when this answer is sent."""


router = KeyedRouter("close")


@router.write(
    "/holds", "status", response_model=HoldResponse, summary="Hold or release an automatic start"
)
async def set_hold(body: HoldRequest, request: Request) -> HoldResponse:
    """Hold a domain's automatic start in this close, or release it."""
    context = context_of(request)
    change = holds.hold if body.hold else holds.release
    result = await call_service(
        request, change, context.estate, body.app, body.domain, by=caller_of(request)
    )
    return HoldResponse(data=HoldState.model_validate(result, from_attributes=True))
