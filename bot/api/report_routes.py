"""``GET /api/v1/close/{period}/chart.png``: the close report chart (SPEC §14).

The same PNG ``/epmpulse report`` posts, for the read key and the read limit. A
period never archived answers 404 ``NOT_FOUND`` naming the archived periods; a
malformed one 400 ``INVALID_REQUEST``. Drawing runs in the thread pool.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from bot.api.close import NotFound, Period
from bot.api.context import API_PREFIX, context_of
from bot.api.errors import ApiError, ErrorCode
from bot.api.guard import GuardedRoute, limit_group
from bot.api.openapi import operation_id
from bot.api.routes import KEYED_RESPONSES
from bot.report.chart import render_chart
from bot.report.model import NoArchiveError, build_report, report_timezone
from bot.service import StatusService

PNG = "image/png"


router = APIRouter(
    prefix=API_PREFIX,
    route_class=GuardedRoute,
    responses=KEYED_RESPONSES,
    tags=["close"],
    generate_unique_id_function=operation_id,
)

_CHART_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The chart: timeline of the close and the six-close trend",
        "content": {PNG: {"schema": {"type": "string", "format": "binary"}}},
    },
    404: {"model": NotFound, "description": "No archive for that period"},
}


@router.get(
    "/close/{period}/chart.png",
    response_class=Response,
    responses=_CHART_RESPONSES,
    openapi_extra=limit_group("read"),
    summary="The close report chart of an archived period (PNG)",
)
async def get_close_chart(period: Period, request: Request) -> Response:
    """The close report chart of ``period`` as ``image/png``."""
    service = context_of(request).service
    try:
        png = await run_in_threadpool(_chart, service, period)
    except NoArchiveError as exc:
        raise ApiError(404, ErrorCode.NOT_FOUND, str(exc)) from exc
    return Response(png, media_type=PNG)


def _chart(service: StatusService, period: str) -> bytes:
    meta = service.store.snapshot().meta
    return render_chart(
        build_report(meta, period, report_timezone(service.layout)),
        is_working_day=service.close.calendar.is_working_day,
    )
