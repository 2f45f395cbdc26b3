"""The status model: statuses, tracked jobs, domain records and history entries."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from bot.errors import UnknownNameError

MESSAGE_LIMIT = 200


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """Format a time as ISO 8601 UTC with a trailing ``Z`` (SPEC §2)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


UtcTime = Annotated[datetime, PlainSerializer(format_time, return_type=str)]


class Status(StrEnum):
    """A domain's status; the value is the canonical spelling."""

    PENDING = "Pending"
    LOADING = "Loading"
    OK = "OK"
    WARNING = "Warning"
    ERROR = "Error"

    @classmethod
    def parse(cls, text: str) -> Status:
        """Parse a status case-insensitively; raise UnknownNameError naming the valid ones."""
        wanted = text.strip().lower()
        for status in cls:
            if status.value.lower() == wanted:
                return status
        raise UnknownNameError("status", text, [s.value for s in cls], code="INVALID_STATUS")

    @property
    def severity(self) -> int:
        """Rank for roll-ups: Error > Warning > Loading > Pending > OK."""
        return _SEVERITY[self]

    @property
    def emoji(self) -> str:
        """The Slack emoji shown next to this status."""
        return _EMOJI[self]


_SEVERITY = {
    Status.OK: 0,
    Status.PENDING: 1,
    Status.LOADING: 2,
    Status.WARNING: 3,
    Status.ERROR: 4,
}
_EMOJI = {
    Status.OK: ":large_green_circle:",
    Status.LOADING: ":large_blue_circle:",
    Status.WARNING: ":large_yellow_circle:",
    Status.ERROR: ":red_circle:",
    Status.PENDING: ":white_circle:",
}


def most_severe(statuses: list[Status]) -> Status:
    """Return the most severe of ``statuses`` (OK when empty)."""
    return max(statuses, key=lambda s: s.severity, default=Status.OK)


class JobRef(BaseModel):
    """An EPM job a domain follows: the configured server's name and the job id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server: str = Field(min_length=1, max_length=100)
    job_id: str = Field(min_length=1, max_length=100)


class DomainRecord(BaseModel):
    """The current status of one domain of one app (SPEC §2)."""

    model_config = ConfigDict(extra="forbid")

    app: str
    domain: str
    status: Status = Status.PENDING
    message: str = ""
    updated_at: UtcTime | None = None
    updated_by: str = "system"
    jobs: list[JobRef] = Field(default_factory=list)
    since: UtcTime | None = None


class HistoryEntry(BaseModel):
    """One change: old and new status, message, who and when."""

    model_config = ConfigDict(extra="ignore")

    app: str
    domain: str
    old_status: Status | None
    new_status: Status
    message: str = ""
    by: str
    at: UtcTime


class Update(BaseModel):
    """A requested change to one domain, as given by a user, script or the poller.

    ``jobs`` None leaves tracked jobs alone only for system updates; a manual
    update clears them (SPEC §6), which the service decides.
    """

    model_config = ConfigDict(extra="forbid")

    app: str
    domain: str
    status: Status | str
    message: str = ""
    jobs: list[JobRef] | None = None
