"""``GET /api/v1/close/{period}/chart.png``: the close report chart (SPEC §14).

The same PNG ``/epmpulse report`` posts, for the read key and the read limit. A
period never archived answers 404 ``NOT_FOUND`` naming the archived periods; a
malformed one 400 ``INVALID_REQUEST``. Drawing runs in the thread pool.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from bot.api.close import NotFound, Period
from bot.api.errors import ApiError, ErrorCode
from bot.api.keyed import KeyedRouter, call_service
from bot.report.chart import draw_report
from bot.report.model import NoArchiveError, load_report
from bot.service import StatusService

PNG = "image/png"


router = KeyedRouter("close")

_CHART_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The chart: timeline of the close and the six-close trend",
        "content": {PNG: {"schema": {"type": "string", "format": "binary"}}},
    },
    404: {"model": NotFound, "description": "No archive for that period"},
}


@router.read(
    "/close/{period}/chart.png",
    response_class=Response,
    responses=_CHART_RESPONSES,
    summary="The close report chart of an archived period (PNG)",
)
async def get_close_chart(period: Period, request: Request) -> Response:
    """The close report chart of ``period`` as ``image/png``."""
    try:
        png = await call_service(request, _chart, period)
    except NoArchiveError as exc:
        raise ApiError(404, ErrorCode.NOT_FOUND, str(exc)) from exc
    return Response(png, media_type=PNG)


def _chart(service: StatusService, period: str) -> bytes:
    return draw_report(service, load_report(service, period))
