"""The status model: statuses, tracked jobs, domain records and history entries.

Immutable named tuples, not pydantic models or dataclasses: every one-shot command
(``epmpulse set`` in a script's loop) creates these classes at start-up, and importing
pydantic alone costs more than the rest of such a command, while a dataclass compiles
its methods when its class is created (about 1.5 ms each; a named tuple, 0.1 ms; SPEC
§12, bench/cli.py). What comes from outside is validated where it comes in: REST bodies
by pydantic in :mod:`bot.api.schemas`, the YAML file by :mod:`bot.config`;
:meth:`DomainRecord.from_json` checks what the store hands back.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import Any, NamedTuple

from bot.errors import UnknownNameError

MESSAGE_LIMIT = 200
RecordKey = tuple[str, str]  # (app, domain): where a domain's record sits on the board


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """Format a time as ISO 8601 UTC with a trailing ``Z`` (SPEC §2)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: object, *, naive: tzinfo | None = None) -> datetime:
    """An ISO 8601 time as written by :func:`format_time`, in UTC; ValueError otherwise.

    A time without a UTC offset is read in ``naive``, and is an error without it.
    """
    if not isinstance(text, str):
        raise ValueError(f"a time must be an ISO 8601 string, not {text!r}")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None and naive is None:
        raise ValueError(f"time '{text}' has no UTC offset")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive)
    return moment.astimezone(UTC)


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


_BY_VALUE = {status.value: status for status in Status}


def most_severe(statuses: list[Status]) -> Status:
    """Return the most severe of ``statuses`` (OK when empty)."""
    return max(statuses, key=lambda s: s.severity, default=Status.OK)


class JobRef(NamedTuple):
    """An EPM job a domain follows: the configured server's name and the job id."""

    server: str
    job_id: str

    def to_json(self) -> dict[str, str]:
        """The stored form."""
        return {"server": self.server, "job_id": self.job_id}

    @classmethod
    def from_json(cls, data: object) -> JobRef:
        """A stored job reference; ValueError when it is not one."""
        fields = _fields(data, "job", required=("server", "job_id"), allowed=("server", "job_id"))
        return cls(server=_text(fields, "server"), job_id=_text(fields, "job_id"))


class PendingApproval(NamedTuple):
    """A change to OK waiting for a second person's approval (SPEC §18).

    ``id`` names the request, so a click on an older request of the same domain is
    told apart from the current one.
    """

    id: str
    by: str
    at: datetime
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        """The stored (and REST) form."""
        return {"id": self.id, "by": self.by, "at": format_time(self.at), "message": self.message}

    @classmethod
    def from_json(cls, data: object) -> PendingApproval:
        """A stored request; ValueError when it is not one."""
        allowed = ("id", "by", "at", "message")
        fields = _fields(data, "pending approval", required=("id", "by", "at"), allowed=allowed)
        return cls(
            id=_text(fields, "id"),
            by=_text(fields, "by"),
            at=parse_time(fields["at"]),
            message=_text(fields, "message", ""),
        )


_RECORD_FIELDS = (
    "app",
    "domain",
    "status",
    "message",
    "updated_at",
    "updated_by",
    "jobs",
    "since",
    "pending_approval",
    "approved_by",
    "disputed",
)


class DomainRecord(NamedTuple):
    """The current status of one domain of one app (SPEC §2)."""

    app: str
    domain: str
    status: Status = Status.PENDING
    message: str = ""
    updated_at: datetime | None = None
    updated_by: str = "system"
    jobs: tuple[JobRef, ...] = ()
    since: datetime | None = None
    # Four-eyes sign-off (SPEC §18): a change to OK waiting for approval, and who
    # approved the OK the record holds. Stored only when set.
    pending_approval: PendingApproval | None = None
    approved_by: str | None = None
    # Why EPM contradicts this status (SPEC §17 cross-check); the next change clears it.
    disputed: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored (and REST) form: times as ISO 8601 UTC with ``Z`` (SPEC §2)."""
        data: dict[str, Any] = {
            "app": self.app,
            "domain": self.domain,
            "status": self.status.value,
            "message": self.message,
            "updated_at": _time_or_none(self.updated_at),
            "updated_by": self.updated_by,
            "jobs": [job.to_json() for job in self.jobs],
            "since": _time_or_none(self.since),
        }
        if self.pending_approval is not None:
            data["pending_approval"] = self.pending_approval.to_json()
        if self.approved_by is not None:
            data["approved_by"] = self.approved_by
        if self.disputed is not None:  # stored only while set
            data["disputed"] = self.disputed
        return data

    @classmethod
    def from_json(cls, data: object) -> DomainRecord:
        """A stored record; ValueError naming the first problem when it is not one."""
        fields = _fields(data, "record", required=("app", "domain"), allowed=_RECORD_FIELDS)
        jobs = fields.get("jobs", [])
        if not isinstance(jobs, list):
            raise ValueError(f"record jobs must be a list, not {jobs!r}")
        pending, approved = fields.get("pending_approval"), fields.get("approved_by")
        return cls(
            app=_text(fields, "app"),
            domain=_text(fields, "domain"),
            status=_status(fields.get("status", Status.PENDING.value)),
            message=_text(fields, "message", ""),
            updated_at=_optional_time(fields.get("updated_at")),
            updated_by=_text(fields, "updated_by", "system"),
            jobs=tuple(JobRef.from_json(job) for job in jobs),
            since=_optional_time(fields.get("since")),
            pending_approval=None if pending is None else PendingApproval.from_json(pending),
            approved_by=None if approved is None else _text(fields, "approved_by"),
            disputed=_optional_text(fields.get("disputed")),
        )


class HistoryEntry(NamedTuple):
    """One change: old and new status, message, who and when."""

    app: str
    domain: str
    old_status: Status | None
    new_status: Status
    by: str
    at: datetime
    message: str = ""
    approved_by: str | None = None  # the approver of a signed-off OK (SPEC §18)

    def to_json(self) -> dict[str, Any]:
        """The stored form (the store adds the board ``version`` it belongs to)."""
        data = {
            "app": self.app,
            "domain": self.domain,
            "old_status": None if self.old_status is None else self.old_status.value,
            "new_status": self.new_status.value,
            "message": self.message,
            "by": self.by,
            "at": format_time(self.at),
        }
        if self.approved_by is not None:
            data["approved_by"] = self.approved_by
        return data

    def record(self, since: datetime | None = None) -> DomainRecord:
        """The domain's record as this change left it (no tracked jobs)."""
        return DomainRecord(
            app=self.app,
            domain=self.domain,
            status=self.new_status,
            message=self.message,
            updated_at=self.at,
            updated_by=self.by,
            since=since,
            approved_by=self.approved_by,
        )

    @classmethod
    def from_json(cls, data: object) -> HistoryEntry:
        """A stored history line (other keys, such as ``version``, are ignored)."""
        required = ("app", "domain", "new_status", "at")
        fields = _fields(data, "history entry", required=required, allowed=None)
        old = fields.get("old_status")
        return cls(
            app=_text(fields, "app"),
            domain=_text(fields, "domain"),
            old_status=None if old is None else _status(old),
            new_status=_status(fields["new_status"]),
            message=_text(fields, "message", ""),
            by=_text(fields, "by", "system"),
            at=parse_time(fields["at"]),
            approved_by=None if fields.get("approved_by") is None else _text(fields, "approved_by"),
        )


class Change(NamedTuple):
    """One applied change: the record before and after."""

    old: DomainRecord
    new: DomainRecord

    @property
    def status_changed(self) -> bool:
        """Whether the status itself changed (not only message, time or author)."""
        return self.old.status is not self.new.status

    @property
    def awaiting_approval(self) -> bool:
        """Whether this change is a request for an OK that waits for sign-off (SPEC §18)."""
        return self.new.pending_approval is not None

    def history_entry(self) -> HistoryEntry:
        """The history entry that records this change (the new record says who and when)."""
        new = self.new
        if new.updated_at is None or new.updated_by is None:
            raise ValueError(f"{new.app} / {new.domain}: a change needs its author and time")
        return HistoryEntry(
            app=new.app,
            domain=new.domain,
            old_status=self.old.status,
            new_status=new.status,
            by=new.updated_by,
            at=new.updated_at,
            message=new.message,
            approved_by=new.approved_by,
        )


class Update(NamedTuple):
    """A requested change to one domain, as given by a user, script or the poller.

    ``jobs`` None leaves tracked jobs alone only for system updates; a manual
    update clears them (SPEC §6), which the service decides.
    """

    app: str
    domain: str
    status: Status | str
    message: str = ""
    jobs: list[JobRef] | None = None


def _fields(
    data: object, what: str, *, required: tuple[str, ...], allowed: tuple[str, ...] | None
) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"a {what} must be an object, not {type(data).__name__}")
    missing = [name for name in required if name not in data]
    if missing:
        raise ValueError(f"{what} field {missing[0]} is missing")
    unknown = [] if allowed is None else [name for name in data if name not in allowed]
    if unknown:
        raise ValueError(f"{what} field {unknown[0]} is not known")
    return data


def _text(fields: dict[str, Any], name: str, default: str | None = None) -> str:
    value = fields.get(name, default)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {value!r}")
    return value


def _optional_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{value!r} is not a string")


def _status(value: object) -> Status:
    if isinstance(value, str) and value in _BY_VALUE:
        return _BY_VALUE[value]
    raise ValueError(f"{value!r} is not a status")


def _optional_time(value: object) -> datetime | None:
    return None if value is None else parse_time(value)


def _time_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)
