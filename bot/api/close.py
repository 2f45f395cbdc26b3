"""The close endpoints of ``/api/v1`` (SPEC §11): the live summary and the archives.

``GET /close`` answers the close running now; ``GET /close/{period}`` the archive of a
finished close (404 ``NOT_FOUND`` when it was never archived, 400 ``INVALID_REQUEST``
for a period that is not ``YYYY-MM``). Both take a read key and the ``read`` limit.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from bot.api.context import API_PREFIX, context_of
from bot.api.errors import ApiError, ErrorCode
from bot.api.guard import GuardedRoute, limit_group
from bot.api.openapi import operation_id
from bot.api.routes import KEYED_RESPONSES
from bot.api.schemas import Ok, UtcTime
from bot.close import conductor
from bot.close.archive import archived_periods, load_archive
from bot.close.live import CloseSummary
from bot.close.periods import parse_period
from bot.errors import ValidationError
from bot.model import Status, parse_time
from bot.service import StatusService

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


class CloseDomain(BaseModel):
    """One domain in the close running now."""

    app: str
    domain: str
    status: Status
    due_at: UtcTime | None = Field(description="This close's deadline (UTC), or null.")
    overdue: bool = Field(description="Not OK and the deadline has passed.")
    waiting_on: list[str] = Field(description="APP/DOMAIN of upstream domains not yet OK.")


class PendingStart(BaseModel):
    """A job that starts by itself once its time comes, unless held (SPEC §17)."""

    app: str
    domain: str
    job: str = Field(description="The EPM job's name.")
    due_at: UtcTime = Field(description="When it starts: the last upstream OK plus the delay.")
    held: bool = Field(description="Held: it does not start until released.")


class Hold(BaseModel):
    """A hold on a domain's automatic start in this close."""

    app: str
    domain: str
    by: str = Field(description="Who set it (slack:<user>, api:<key>).")
    at: UtcTime


class LiveClose(BaseModel):
    """The close running now."""

    period: str = Field(description="The period being closed, YYYY-MM.", examples=["2026-11"])
    timezone: str = Field(description="Where working days and deadlines are counted.")
    working_day: int = Field(description="How many working days of the close month have begun.")
    total: int = Field(description="Domains on the board.")
    ok: int = Field(description="Domains that are OK.")
    domains: list[CloseDomain]
    pending_starts: list[PendingStart] = Field(
        default_factory=list, description="Automatic starts scheduled or held, soonest first."
    )
    holds: list[Hold] = Field(default_factory=list, description="Holds set in this close.")


class ArchivedDomain(BaseModel):
    """One domain at the end of an archived close."""

    app: str
    domain: str
    status: Status = Field(description="The final status of that close.")
    due_at: UtcTime | None = Field(description="That close's deadline (UTC), or null.")
    ok_at: UtcTime | None = Field(description="When it last became OK in that close, or null.")
    late: bool = Field(description="OK after its deadline, or never OK while it had one.")
    approved_by: str | None = Field(
        default=None, description="Who signed off its final OK (SPEC §18), or null."
    )


class CloseArchive(BaseModel):
    """A finished close as archived when the next one began."""

    period: str = Field(examples=["2026-10"])
    domains: list[ArchivedDomain]


class LiveCloseResponse(Ok[LiveClose]):
    """The close running now."""


class CloseArchiveResponse(Ok[CloseArchive]):
    """An archived close."""


class NotFoundError(BaseModel):
    """Nothing is kept under that name."""

    code: Literal["NOT_FOUND"]
    message: str


class NotFound(BaseModel):
    """404: the period was never archived."""

    ok: Literal[False] = False
    error: NotFoundError


Period = Annotated[
    str,
    Path(
        pattern=PERIOD_PATTERN,
        description="A closed period, YYYY-MM (the month closed, not the close month).",
        examples=["2026-10"],
    ),
]

router = APIRouter(
    prefix=API_PREFIX,
    route_class=GuardedRoute,
    responses=KEYED_RESPONSES,
    tags=["close"],
    generate_unique_id_function=operation_id,
)


@router.get(
    "/close",
    response_model=LiveCloseResponse,
    openapi_extra=limit_group("read"),
    summary="The close running now",
)
async def get_close(request: Request) -> LiveCloseResponse:
    """Period, working day, how many domains are OK, and each domain's deadline and waits."""
    service = context_of(request).service
    summary = await run_in_threadpool(_summary, service)
    plans = await run_in_threadpool(conductor.shown, service, context_of(request).estate)
    return LiveCloseResponse(data=live_close(summary, plans))


@router.get(
    "/close/{period}",
    response_model=CloseArchiveResponse,
    openapi_extra=limit_group("read"),
    responses={404: {"model": NotFound, "description": "Never archived"}},
    summary="An archived close",
)
async def get_close_archive(period: Period, request: Request) -> CloseArchiveResponse:
    """The archive of a finished close: per domain final status, due_at, ok_at, late."""
    try:
        year, month = parse_period(period)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    canonical = f"{year:04d}-{month:02d}"
    service = context_of(request).service
    meta = (await run_in_threadpool(service.store.snapshot)).meta
    archive = load_archive(meta, canonical)
    if archive is None:
        kept = ", ".join(archived_periods(meta)) or "none yet"
        raise ApiError(
            404, ErrorCode.NOT_FOUND, f"No archive of the close of {canonical}; archived: {kept}."
        )
    return CloseArchiveResponse(data=CloseArchive.model_validate(archive))


def _summary(service: StatusService) -> CloseSummary:
    return service.close.summary()


def live_close(summary: CloseSummary, plans: list[conductor.Plan] | None = None) -> LiveClose:
    """The REST shape of a live summary (with the conductor's ``plans``, SPEC §17)."""
    plans = plans or []
    domains = [
        CloseDomain(
            app=d.app,
            domain=d.domain,
            status=d.status,
            due_at=d.due_at,
            overdue=d.overdue,
            waiting_on=list(d.waiting_on),
        )
        for d in summary.domains
    ]
    return LiveClose(
        period=summary.period,
        timezone=summary.timezone,
        working_day=summary.working_day,
        total=summary.total,
        ok=summary.ok,
        domains=domains,
        pending_starts=[
            PendingStart(
                app=p.key[0], domain=p.key[1], job=p.job, due_at=p.due_at, held=p.hold is not None
            )
            for p in plans
            if p.due_at is not None
        ],
        holds=[
            Hold(app=p.key[0], domain=p.key[1], by=p.hold["by"], at=parse_time(p.hold["at"]))
            for p in plans
            if p.hold is not None
        ],
    )
