"""The JSON shapes of the REST API: request bodies, success envelopes and failures.

Success is ``{"ok": true, "data": …}``; failure ``{"ok": false, "error": {"code",
"message"}}`` (SPEC §7). Each failure status has its own model listing exactly the
codes it can carry, so the OpenAPI document says which code comes with which status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, create_model

from bot import model
from bot.close import live
from bot.epm.tracking import MAX_TRACKED_JOBS
from bot.model import MESSAGE_LIMIT, Status, Update, format_time
from bot.service import Change

MAX_BATCH = 50
T = TypeVar("T")

# A time on the wire: ISO 8601 UTC with a trailing Z, to the second (SPEC §2).
UtcTime = Annotated[datetime, PlainSerializer(format_time, return_type=str)]

# --- records on the wire ------------------------------------------------------------------
# The status model (bot.model) is named tuples, so one-shot commands never import
# pydantic; these are its public JSON shapes, validated and documented by pydantic.


class JobRef(BaseModel):
    """An EPM job a domain follows: the configured server's name and the job id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server: str = Field(min_length=1, max_length=100)
    job_id: str = Field(min_length=1, max_length=100)

    def to_model(self) -> model.JobRef:
        """The status model's job reference."""
        return model.JobRef(server=self.server, job_id=self.job_id)


class ApprovalRequest(BaseModel):
    """A change to OK waiting for sign-off (SPEC §18): who asked, when, with what message."""

    id: str
    by: str
    at: UtcTime
    message: str = ""


class CloseRecord(BaseModel):
    """A domain record as shown: with this close's deadline and what it waits on."""

    model_config = ConfigDict(extra="forbid")

    app: str
    domain: str
    status: Status = Status.PENDING
    message: str = ""
    updated_at: UtcTime | None = None
    updated_by: str = "system"
    jobs: list[JobRef] = Field(default_factory=list)
    since: UtcTime | None = None
    due_at: UtcTime | None = Field(
        default=None, description="This close's deadline (UTC), or null without one."
    )
    overdue: bool = Field(default=False, description="Not OK and the deadline has passed.")
    waiting_on: list[str] = Field(
        default_factory=list, description="APP/DOMAIN of upstream domains not yet OK."
    )
    pending_approval: ApprovalRequest | None = Field(
        default=None, description="A change to OK waiting for sign-off (SPEC §18), or null."
    )
    approved_by: str | None = Field(
        default=None, description="Who signed off the OK this record holds (SPEC §18)."
    )
    disputed: str | None = Field(
        default=None,
        description="Why EPM contradicts this status (SPEC §17); null when it does not. "
        "The next change of the domain clears it.",
    )

    @classmethod
    def from_record(cls, given: model.DomainRecord | live.CloseRecord) -> CloseRecord:
        """The wire form of a record (with its close fields when it has them)."""
        if not isinstance(given, live.CloseRecord):
            return cls.model_validate(given, from_attributes=True)
        wire = cls.model_validate(given.record, from_attributes=True)
        shown = {"due_at": given.due_at, "overdue": given.overdue, "waiting_on": given.waiting_on}
        return cls.model_validate({**dict(wire), **shown})


class HistoryEntry(BaseModel):
    """One change: old and new status, message, who and when."""

    app: str
    domain: str
    old_status: Status | None
    new_status: Status
    message: str = ""
    by: str
    at: UtcTime
    approved_by: str | None = Field(
        default=None, description="Who signed off this change to OK (SPEC §18), or null."
    )

    @classmethod
    def of(cls, entry: model.HistoryEntry) -> HistoryEntry:
        """The wire form of a history entry."""
        return cls.model_validate(entry, from_attributes=True)


# --- requests --------------------------------------------------------------------------


class StatusUpdate(BaseModel):
    """Set one domain's status. Names and the status are matched case-insensitively."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"app": "Planning", "domain": "Actuals", "status": "OK", "message": ""}]
        },
    )

    app: str = Field(min_length=1, max_length=100, description="A configured app, e.g. Planning.")
    domain: str = Field(
        min_length=1, max_length=100, description="A domain of that app, e.g. Actuals."
    )
    status: str = Field(
        min_length=1,
        max_length=20,
        description="Pending, Loading, OK, Warning or Error (any letter case).",
    )
    # null is accepted as "not given": clients serialising optional fields send it.
    message: str | None = Field(
        default="", max_length=MESSAGE_LIMIT, description="Optional note (null: none)."
    )
    jobs: list[JobRef] | None = Field(
        default=None,
        max_length=MAX_TRACKED_JOBS,
        description=(
            "EPM jobs to track ({server, job_id}); replaces the tracked jobs "
            "(omitted, null or []: none)."
        ),
    )

    def to_update(self) -> Update:
        """The service's update, with a null message or jobs list meaning none."""
        return Update(
            app=self.app,
            domain=self.domain,
            status=self.status,
            message=self.message or "",
            jobs=[job.to_model() for job in self.jobs or []],
        )


class BatchRequest(BaseModel):
    """Several updates applied all-or-nothing in one durable write."""

    model_config = ConfigDict(extra="forbid")

    updates: list[StatusUpdate] = Field(min_length=1, max_length=MAX_BATCH)


# --- success ---------------------------------------------------------------------------


class Ok(BaseModel, Generic[T]):
    """A successful answer."""

    ok: Literal[True] = True
    data: T


class AppBoard(BaseModel):
    """One app: its most severe status and each domain's record."""

    app: str
    status: Status = Field(description="The most severe status of the app's domains.")
    domains: list[CloseRecord]


class AppliedChange(CloseRecord):
    """A durable change: the domain's record as it is now, and the status it had before."""

    previous_status: Status = Field(description="The status before this change.")
    status_changed: bool = Field(description="False when the status was already this one.")
    # The answer says only whether the change waits (SPEC §18: 202 {pending_approval:
    # true}); the request itself is on the record (GET), so the type narrows here.
    pending_approval: bool = Field(  # type: ignore[assignment]
        default=False,
        description="True when the change to OK was not applied but waits for sign-off.",
    )

    @classmethod
    def of(cls, change: Change, shown: live.CloseRecord | None = None) -> AppliedChange:
        """The answer for one change the service applied (``shown``: with its close fields)."""
        record = dict(CloseRecord.from_record(shown if shown is not None else change.new))
        record["pending_approval"] = change.awaiting_approval
        return cls(
            **record,
            previous_status=change.old.status,
            status_changed=change.status_changed,
        )


class CheckResult(BaseModel):
    """One health check."""

    ok: bool
    detail: str


class Health(BaseModel):
    """Every health check by name (store, scheduler, slack, canvas, api, …)."""

    checks: dict[str, CheckResult]
    leader: bool = Field(
        default=True, description="Whether this instance runs the scheduled work (SPEC §10)"
    )
    instance: str = Field(default="", description="This instance as host:pid")


class BoardResponse(Ok[list[AppBoard]]):
    """Every app, in configuration order."""


class AppResponse(Ok[AppBoard]):
    """One app."""


class RecordResponse(Ok[CloseRecord]):
    """One domain's record."""


class ChangeResponse(Ok[AppliedChange]):
    """The applied change (durable when this answer is sent)."""


class BatchResponse(Ok[list[AppliedChange]]):
    """Every applied change, in request order (durable when this answer is sent)."""


class HistoryResponse(Ok[list[HistoryEntry]]):
    """Changes, newest first."""


class HealthResponse(Ok[Health]):
    """Every check passes."""


# --- failures --------------------------------------------------------------------------


class _Failure(BaseModel):
    ok: Literal[False] = False


def failure(
    name: str, codes: tuple[str, ...], doc: str, error_doc: str, *, error_name: str = ""
) -> type[BaseModel]:
    """The failure model ``name``: ``{"ok": false, "error": {"code", "message"}}``.

    The error's model (``error_name``, default ``<name>Error``) lists exactly ``codes``,
    so the OpenAPI document says which codes come with which status.
    """
    error = create_model(
        error_name or f"{name}Error",
        __doc__=error_doc,
        code=(Literal[codes], ...),
        message=(str, ...),
    )
    return create_model(name, __base__=_Failure, __doc__=doc, error=(error, ...))


BadRequest = failure(
    "BadRequest",
    ("INVALID_REQUEST", "INVALID_APP", "INVALID_DOMAIN", "INVALID_STATUS"),
    "400: malformed JSON, wrong types, unknown fields, or unknown app/domain/status.",
    "Why the input was refused; the message names the valid choices.",
)
MissingAuth = failure(
    "MissingAuth",
    ("MISSING_AUTH",),
    "401: no bearer key.",
    "No usable ``Authorization: Bearer`` header (or no keys configured).",
)
InvalidKey = failure(
    "InvalidKey",
    ("INVALID_KEY",),
    "403: unknown key.",
    "The bearer key is not one of EPMPULSE_API_KEYS.",
)
TooLarge = failure(
    "TooLarge", ("PAYLOAD_TOO_LARGE",), "413: body over 64 KiB.", "The body is larger than 64 KiB."
)
RateLimited = failure(
    "RateLimited",
    ("RATE_LIMITED",),
    "429: the key's limit for this endpoint is used up.",
    "Too many requests for this key; see Retry-After.",
)
StoreUnavailable = failure(
    "StoreUnavailable",
    ("STORE_UNAVAILABLE",),
    "503: the store failed.",
    "The status store could not be read or written; nothing changed.",
)


class UnhealthyError(BaseModel):
    """At least one health check failed; the message names them."""

    code: Literal["UNHEALTHY"]
    message: str


class Unhealthy(_Failure):
    """503: some check failed; ``data`` has every check."""

    error: UnhealthyError
    data: Health
