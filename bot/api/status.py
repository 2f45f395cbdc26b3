"""The keyed endpoints of ``/api/v1``: read and set statuses, read history.

Every route here goes through :class:`~bot.api.guard.GuardedRoute` (key, rate
limit, body cap) and calls the same :class:`~bot.service.StatusService` the Slack
surface uses. The service blocks on disk, so each handler makes exactly one call
into the thread pool (where concurrent writes share one durable commit); parsing
and serialising stay on the event loop. Handlers read the context and the caller
from the request rather than through sub-dependencies: each of those costs FastAPI
a dependency solve on every request (see ``bench/api.py``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from bot import model
from bot.api.auth import caller_of
from bot.api.context import API_PREFIX, context_of
from bot.api.guard import GuardedRoute, limit_group
from bot.api.openapi import operation_id
from bot.api.schemas import (
    AppBoard,
    AppliedChange,
    AppResponse,
    BadRequest,
    BatchRequest,
    BatchResponse,
    BoardResponse,
    ChangeResponse,
    CloseRecord,
    HistoryEntry,
    HistoryResponse,
    InvalidKey,
    MissingAuth,
    RateLimited,
    RecordResponse,
    StatusUpdate,
    StoreUnavailable,
    TooLarge,
)
from bot.errors import ValidationError
from bot.model import Update, most_severe
from bot.service import StatusService

AppName = Annotated[
    str, Path(description="A configured app (any letter case)", examples=["Planning"])
]
DomainName = Annotated[
    str, Path(description="A domain of that app (any letter case)", examples=["Actuals"])
]

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

router = APIRouter(
    prefix=API_PREFIX,
    route_class=GuardedRoute,
    responses=KEYED_RESPONSES,
    tags=["status"],
    generate_unique_id_function=operation_id,
)


@router.get(
    "/status",
    response_model=BoardResponse,
    openapi_extra=limit_group("read"),
    summary="Every app's statuses",
)
async def get_board(request: Request) -> BoardResponse:
    """Every app with each domain's record, in configuration order."""
    service = context_of(request).service
    board = await run_in_threadpool(_shown_board, service)
    return BoardResponse(data=[_app_board(app, records) for app, records in board.items()])


@router.get(
    "/status/{app}",
    response_model=AppResponse,
    openapi_extra=limit_group("read"),
    summary="One app's statuses",
)
async def get_app(app: AppName, request: Request) -> AppResponse:
    """One app (matched case-insensitively) with each domain's record."""
    service = context_of(request).service
    canonical = service.layout.resolve_app(app)
    records = await run_in_threadpool(_shown_board, service, canonical)
    return AppResponse(data=_app_board(canonical, records[canonical]))


@router.get(
    "/status/{app}/{domain}",
    response_model=RecordResponse,
    openapi_extra=limit_group("read"),
    summary="One domain's status",
)
async def get_domain(app: AppName, domain: DomainName, request: Request) -> RecordResponse:
    """One domain's record."""
    record = await run_in_threadpool(_shown_record, context_of(request).service, app, domain)
    return RecordResponse(data=record)


@router.post(
    "/status",
    response_model=ChangeResponse,
    responses={202: {"model": ChangeResponse, "description": "Waits for sign-off (SPEC §18)"}},
    openapi_extra=limit_group("status"),
    summary="Set one domain's status",
)
async def set_status(update: StatusUpdate, request: Request, response: Response) -> ChangeResponse:
    """Set a status (and the EPM jobs to track); answers once the change is durable.

    A change to OK on a sign-off domain answers 202 with ``pending_approval: true``: it
    was committed as a request and waits for an approver (SPEC §18).
    """
    service = context_of(request).service
    changes = await run_in_threadpool(_apply, service, [update.to_update()], caller_of(request))
    _accepted_when_pending(changes, response)
    return ChangeResponse(data=changes[0])


@router.post(
    "/status/batch",
    response_model=BatchResponse,
    responses={202: {"model": BatchResponse, "description": "Some wait for sign-off (SPEC §18)"}},
    openapi_extra=limit_group("batch"),
    summary="Set several statuses, all or nothing",
)
async def set_batch(batch: BatchRequest, request: Request, response: Response) -> BatchResponse:
    """Validate every update, then apply all of them in one durable write (or none).

    202 when any of them waits for sign-off (that item has ``pending_approval: true``).
    """
    updates = [u.to_update() for u in batch.updates]
    service = context_of(request).service
    changes = await run_in_threadpool(_apply, service, updates, caller_of(request))
    _accepted_when_pending(changes, response)
    return BatchResponse(data=changes)


def _accepted_when_pending(changes: list[AppliedChange], response: Response) -> None:
    if any(c.pending_approval for c in changes):
        response.status_code = 202


@router.get(
    "/history",
    response_model=HistoryResponse,
    openapi_extra=limit_group("read"),
    summary="Recent changes",
)
async def get_history(
    request: Request,
    app: Annotated[
        str | None, Query(max_length=100, description="Only this app", examples=["Planning"])
    ] = None,
    domain: Annotated[
        str | None,
        Query(max_length=100, description="Only this domain (needs app)", examples=["Actuals"]),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="How many changes")] = 10,
) -> HistoryResponse:
    """The last ``limit`` changes, newest first, of everything, one app or one domain."""
    entries = await run_in_threadpool(_history, context_of(request).service, app, domain, limit)
    return HistoryResponse(data=entries)


def _history(
    service: StatusService, app: str | None, domain: str | None, limit: int
) -> list[HistoryEntry]:
    if domain is not None:
        if app is None:
            raise ValidationError("Give 'app' together with 'domain'.")
        return [HistoryEntry.of(e) for e in service.history(app, domain, limit)]
    canonical = service.layout.resolve_app(app) if app is not None else None
    entries = service.store.history(canonical, None, limit)
    return [HistoryEntry.of(model.HistoryEntry.from_json(e)) for e in reversed(entries)]


def _shown_board(service: StatusService, app: str | None = None) -> dict[str, list[CloseRecord]]:
    board = service.board() if app is None else {app: service.app_board(app)}
    return {
        name: [CloseRecord.from_record(r) for r in service.close.show(records)]
        for name, records in board.items()
    }


def _shown_record(service: StatusService, app: str, domain: str) -> CloseRecord:
    return CloseRecord.from_record(service.close.show_one(service.get(app, domain)))


def _apply(service: StatusService, updates: list[Update], by: str) -> list[AppliedChange]:
    """Apply ``updates``; each answer names what the domain still waits on (SPEC §11)."""
    changes = service.set_many(updates, by=by)
    shown = service.close.show([c.new for c in changes])
    return [AppliedChange.of(c, s) for c, s in zip(changes, shown, strict=True)]


def _app_board(app: str, records: list[CloseRecord]) -> AppBoard:
    return AppBoard(app=app, status=most_severe([r.status for r in records]), domains=records)
