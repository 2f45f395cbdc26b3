"""The endpoints for operators and monitors, open without a key: health and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from bot.api.context import API_PREFIX, context_of
from bot.api.openapi import operation_id
from bot.api.schemas import CheckResult, Health, HealthResponse, Unhealthy, UnhealthyError

health_router = APIRouter(
    prefix=API_PREFIX, tags=["operations"], generate_unique_id_function=operation_id
)
metrics_router = APIRouter(tags=["operations"], generate_unique_id_function=operation_id)


@health_router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": Unhealthy, "description": "At least one check failed"}},
    summary="Whether every part of the process works",
)
async def get_health(request: Request) -> HealthResponse | JSONResponse:
    """Store, scheduler, Slack connection, canvas and API checks: 200 when all pass, else 503."""
    context = context_of(request)
    results = await run_in_threadpool(context.health)
    checks = {name: CheckResult(ok=c.ok, detail=c.detail) for name, c in results.items()}
    role = context.role()
    health = Health(checks=checks, leader=role.leader, instance=role.instance)
    failing = [name for name, check in checks.items() if not check.ok]
    if not failing:
        return HealthResponse(data=health)
    body = Unhealthy(
        error=UnhealthyError(code="UNHEALTHY", message=f"Failing: {', '.join(failing)}."),
        data=health,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=503)


@metrics_router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
    summary="Prometheus metrics",
)
async def get_metrics(request: Request) -> Response:
    """Updates, API requests, canvas publishes, EPM polls and current statuses."""
    text = await run_in_threadpool(
        context_of(request).metrics.render
    )  # reads the board from the store
    return Response(text, media_type=CONTENT_TYPE_LATEST)
