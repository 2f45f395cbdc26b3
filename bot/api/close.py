"""The close endpoints of ``/api/v1`` (SPEC §11): the live summary and the archives.

``GET /close`` answers the close running now; ``GET /close/{period}`` the archive of a
finished close (404 ``NOT_FOUND`` when it was never archived, 400 ``INVALID_REQUEST``
for a period that is not ``YYYY-MM``). Both take a read key and the ``read`` limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Path, Request
from pydantic import BaseModel, Field

from bot.api.context import context_of
from bot.api.errors import ApiError, ErrorCode
from bot.api.keyed import KeyedRouter, call_service
from bot.api.schemas import Ok, UtcTime, failure
from bot.close import conductor
from bot.close.archive import archived_periods, find_archive
from bot.close.live import CloseSummary
from bot.estate import Estate
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


NotFound = failure(
    "NotFound",
    ("NOT_FOUND",),
    "404: the period was never archived.",
    "Nothing is kept under that name.",
)


Period = Annotated[
    str,
    Path(
        pattern=PERIOD_PATTERN,
        description="A closed period, YYYY-MM (the month closed, not the close month).",
        examples=["2026-10"],
    ),
]

router = KeyedRouter("close")


@router.read("/close", response_model=LiveCloseResponse, summary="The close running now")
async def get_close(request: Request) -> LiveCloseResponse:
    """Period, working day, how many domains are OK, and each domain's deadline and waits."""
    summary, plans = await call_service(request, _summary_and_plans, context_of(request).estate)
    return LiveCloseResponse(data=live_close(summary, plans))


@router.read(
    "/close/{period}",
    response_model=CloseArchiveResponse,
    responses={404: {"model": NotFound, "description": "Never archived"}},
    summary="An archived close",
)
async def get_close_archive(period: Period, request: Request) -> CloseArchiveResponse:
    """The archive of a finished close: per domain final status, due_at, ok_at, late."""
    meta = await call_service(request, _meta)
    canonical, archive = find_archive(meta, period)
    if archive is None:
        kept = ", ".join(archived_periods(meta)) or "none yet"
        raise ApiError(
            404, ErrorCode.NOT_FOUND, f"No archive of the close of {canonical}; archived: {kept}."
        )
    return CloseArchiveResponse(data=CloseArchive.model_validate(archive))


def _summary_and_plans(
    service: StatusService, estate: Estate | None
) -> tuple[CloseSummary, list[conductor.Plan]]:
    return service.close.summary(), conductor.shown(service, estate)


def _meta(service: StatusService) -> Mapping[str, Any]:
    return service.store.snapshot().meta


def live_close(summary: CloseSummary, plans: list[conductor.Plan] | None = None) -> LiveClose:
    """The REST shape of a live summary (with the conductor's ``plans``, SPEC §17)."""
    plans = plans or []
    shown = LiveClose.model_validate(summary, from_attributes=True)
    shown.pending_starts = [
        PendingStart(
            app=p.key[0], domain=p.key[1], job=p.job, due_at=p.due_at, held=p.hold is not None
        )
        for p in plans
        if p.due_at is not None
    ]
    shown.holds = [
        Hold(app=p.key[0], domain=p.key[1], by=p.hold["by"], at=parse_time(p.hold["at"]))
        for p in plans
        if p.hold is not None
    ]
    return shown
