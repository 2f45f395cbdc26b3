"""The keyed endpoints of ``/api/v1``: read and set statuses, read history.

Every route here is declared on a :class:`~bot.api.keyed.KeyedRouter` (key, rate
limit, body cap) and calls the same :class:`~bot.service.StatusService` the Slack
surface uses. The service blocks on disk, so each handler makes exactly one call
into the thread pool (:func:`~bot.api.keyed.call_service`, where concurrent writes
share one durable commit); parsing and serialising stay on the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request, Response

from bot import model
from bot.api.auth import caller_of
from bot.api.keyed import KeyedRouter, call_service
from bot.api.schemas import (
    AppBoard,
    AppliedChange,
    AppResponse,
    BatchRequest,
    BatchResponse,
    BoardResponse,
    ChangeResponse,
    CloseRecord,
    HistoryEntry,
    HistoryResponse,
    RecordResponse,
    StatusUpdate,
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

router = KeyedRouter("status")


@router.read(
    "/status",
    response_model=BoardResponse,
    summary="Every app's statuses",
)
async def get_board(request: Request) -> BoardResponse:
    """Every app with each domain's record, in configuration order."""
    board = await call_service(request, _shown_board)
    return BoardResponse(data=[_app_board(app, records) for app, records in board.items()])


@router.read(
    "/status/{app}",
    response_model=AppResponse,
    summary="One app's statuses",
)
async def get_app(app: AppName, request: Request) -> AppResponse:
    """One app (matched case-insensitively) with each domain's record."""
    ((canonical, records),) = (await call_service(request, _shown_board, app)).items()
    return AppResponse(data=_app_board(canonical, records))


@router.read(
    "/status/{app}/{domain}",
    response_model=RecordResponse,
    summary="One domain's status",
)
async def get_domain(app: AppName, domain: DomainName, request: Request) -> RecordResponse:
    """One domain's record."""
    return RecordResponse(data=await call_service(request, _shown_record, app, domain))


@router.write(
    "/status",
    "status",
    response_model=ChangeResponse,
    responses={202: {"model": ChangeResponse, "description": "Waits for sign-off (SPEC §18)"}},
    summary="Set one domain's status",
)
async def set_status(update: StatusUpdate, request: Request, response: Response) -> ChangeResponse:
    """Set a status (and the EPM jobs to track); answers once the change is durable.

    A change to OK on a sign-off domain answers 202 with ``pending_approval: true``: it
    was committed as a request and waits for an approver (SPEC §18).
    """
    (change,) = await _set(request, response, [update.to_update()])
    return ChangeResponse(data=change)


@router.write(
    "/status/batch",
    "batch",
    response_model=BatchResponse,
    responses={202: {"model": BatchResponse, "description": "Some wait for sign-off (SPEC §18)"}},
    summary="Set several statuses, all or nothing",
)
async def set_batch(batch: BatchRequest, request: Request, response: Response) -> BatchResponse:
    """Validate every update, then apply all of them in one durable write (or none).

    202 when any of them waits for sign-off (that item has ``pending_approval: true``).
    """
    return BatchResponse(data=await _set(request, response, [u.to_update() for u in batch.updates]))


async def _set(request: Request, response: Response, updates: list[Update]) -> list[AppliedChange]:
    """Apply ``updates`` as the caller; 202 when any of them waits for sign-off."""
    changes = await call_service(request, _apply, updates, caller_of(request))
    if any(c.pending_approval for c in changes):
        response.status_code = 202
    return changes


@router.read(
    "/history",
    response_model=HistoryResponse,
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
    return HistoryResponse(data=await call_service(request, _history, app, domain, limit))


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
    """Every app's records as shown, or only ``app``'s (matched case-insensitively)."""
    if app is None:
        board = service.board()
    else:
        canonical = service.layout.resolve_app(app)
        board = {canonical: service.app_board(canonical)}
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
