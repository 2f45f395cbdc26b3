"""Four-eyes sign-off (SPEC §18): an OK on a sign-off domain waits for an approver.

A rule of the status service. On a domain named by ``close.sign_off``, a change to OK
from any surface is not applied: :func:`request` commits it as the record's
``pending_approval`` (the status stays what it was) and queues a :class:`Request` in
the store's meta (:data:`REQUESTS_META`), which the leader posts to the channel with
Approve and Reject buttons (:mod:`bot.slack.signoff`). :func:`decide` approves or
rejects it; any other change of the domain cancels it (:func:`cancel`).

Every decision is taken inside one store commit that compares the request id on the
record (compare-and-set): of two approvers clicking at once, or one clicking twice, one
commits and the other is told the request is no longer pending. Only a person in Slack
decides: never the requester, never an API key, the poller or ``system``, and only an
approver (``is_approver`` resolves usergroups, outside the commit).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from bot.errors import NotAllowedError, StaleRequestError, ValidationError
from bot.model import (
    MESSAGE_LIMIT,
    Change,
    DomainRecord,
    JobRef,
    PendingApproval,
    Status,
    format_time,
    parse_time,
)
from bot.store import WorkingState

if TYPE_CHECKING:
    from bot.service import StatusService

# {request id: Request.to_json()}: requests whose message or DM is not finished yet.
REQUESTS_META = "signoff.requests"

PENDING, APPROVED, REJECTED, CANCELLED = "pending", "approved", "rejected", "cancelled"
SLACK_PREFIX = "slack:"


class Request(NamedTuple):
    """One sign-off request and what became of it, as the leader posts and updates it.

    ``ts``/``channel`` name the posted message, ``shown`` the state it shows;
    ``claimed`` is the epoch of the leader posting it (a claim is made in a commit
    before the post, SPEC §15), ``dm_claimed``/``dm_sent`` the same for the DM telling
    the requester of a rejection.
    """

    id: str
    app: str
    domain: str
    by: str
    at: datetime
    message: str
    old_status: Status
    state: str = PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str = ""
    channel: str | None = None
    ts: str | None = None
    shown: str | None = None
    claimed: int | None = None
    dm_claimed: int | None = None
    dm_sent: bool = False

    @property
    def name(self) -> str:
        """``APP/DOMAIN``."""
        return f"{self.app}/{self.domain}"

    @property
    def dm_due(self) -> bool:
        """Whether the requester still has to be told of a rejection."""
        return self.state == REJECTED and not self.dm_sent and self.by.startswith(SLACK_PREFIX)

    @property
    def finished(self) -> bool:
        """Decided, its message (if one was posted) shows that, and no DM is due."""
        settled = not self.ts or self.shown == self.state  # "": refused for good, never shown
        return self.state != PENDING and settled and not self.dm_due

    def to_json(self) -> dict[str, Any]:
        """The meta form."""
        data = self._asdict()
        data["at"] = format_time(self.at)
        data["decided_at"] = None if self.decided_at is None else format_time(self.decided_at)
        data["old_status"] = self.old_status.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Request:
        """A request kept in meta."""
        values = dict(data)
        values["at"] = parse_time(values["at"])
        decided = values.get("decided_at")
        values["decided_at"] = None if decided is None else parse_time(decided)
        values["old_status"] = Status(values["old_status"])
        return cls(**{k: v for k, v in values.items() if k in cls._fields})


def requests(meta: Mapping[str, Any]) -> dict[str, Request]:
    """The requests kept in ``meta``, oldest first."""
    stored = meta.get(REQUESTS_META)
    if not isinstance(stored, Mapping):
        return {}
    return {rid: Request.from_json(value) for rid, value in stored.items()}


def put_request(work: WorkingState, request: Request) -> None:
    """Store ``request`` (replacing the one with its id)."""
    stored = work.meta.get(REQUESTS_META)
    current = dict(stored) if isinstance(stored, Mapping) else {}
    current[request.id] = request.to_json()
    work.put_meta(REQUESTS_META, current)


def drop_request(work: WorkingState, request_id: str) -> None:
    """Forget a finished request."""
    stored = work.meta.get(REQUESTS_META)
    if isinstance(stored, Mapping) and request_id in stored:
        work.put_meta(REQUESTS_META, {k: v for k, v in stored.items() if k != request_id})


def request(
    work: WorkingState,
    old: DomainRecord,
    message: str,
    jobs: Sequence[JobRef],
    by: str,
    now: datetime,
) -> Change:
    """Commit a change to OK as a pending request; the status stays as it was.

    A request already pending on the domain is cancelled by this newer one.
    """

    if old.pending_approval is not None:
        cancel(work, old, by, now)
    pending = PendingApproval(id=os.urandom(8).hex(), by=by, at=now, message=message)
    new = old._replace(jobs=tuple(jobs), pending_approval=pending)
    work.put_record((old.app, old.domain), new.to_json())
    put_request(
        work,
        Request(pending.id, old.app, old.domain, by, now, message, old_status=old.status),
    )
    return Change(old, new)


def cancel(work: WorkingState, old: DomainRecord, by: str, now: datetime) -> None:
    """Mark the request pending on ``old`` cancelled by another change (made by ``by``)."""
    if old.pending_approval is None:
        return
    known = requests(work.meta).get(old.pending_approval.id)
    if known is not None:
        put_request(work, known._replace(state=CANCELLED, decided_by=by, decided_at=now))


def check(
    service: StatusService,
    app: str,
    domain: str,
    request_id: str,
    *,
    by: str,
    is_approver: Callable[[str], bool],
) -> DomainRecord:
    """Raise as :func:`decide` would, without changing anything; the domain's record.

    Slack asks this before it opens the modal for a rejection's reason.
    """
    key = service.layout.resolve_domain(app, domain)
    approver = _is_approver(by, is_approver)
    snapshot = service.store.snapshot()
    record = service.get(*key)
    _require_decider(record, request_id, by, approver, snapshot.meta)
    return record


def decide(
    service: StatusService,
    app: str,
    domain: str,
    request_id: str,
    *,
    by: str,
    approve: bool,
    is_approver: Callable[[str], bool],
    reason: str = "",
) -> Change:
    """Approve (commit the OK with ``approved_by``) or reject (keep the status) a request.

    Raises NotAllowedError for an API key or other non-person, a non-approver and the
    requester; StaleRequestError when ``request_id`` is no longer pending. Either way
    nothing is changed.
    """
    key = service.layout.resolve_domain(app, domain)
    reason = reason.strip()
    if not approve and not reason:
        raise ValidationError("Give a reason for the rejection.")
    if len(reason) > MESSAGE_LIMIT:
        raise ValidationError(f"A reason can be at most {MESSAGE_LIMIT} characters.")
    approver = _is_approver(by, is_approver)  # may ask Slack: never inside the commit

    def mutation(work: WorkingState, now: datetime) -> tuple[Change, list[Change]]:
        old = service.current(work, key)
        pending = _require_decider(old, request_id, by, approver, work.meta)
        change = _approve(work, old, pending, by, now) if approve else _reject(work, old)
        known = requests(work.meta).get(request_id)
        if known is not None:
            state = APPROVED if approve else REJECTED
            decided = known._replace(state=state, decided_by=by, decided_at=now, reason=reason)
            put_request(work, decided)
        return change, [change]

    return service.transact(mutation)


def _is_approver(by: str, is_approver: Callable[[str], bool]) -> bool:
    if not by.startswith(SLACK_PREFIX):
        raise NotAllowedError("Only a person in Slack can approve or reject a sign-off.")
    return is_approver(by.removeprefix(SLACK_PREFIX))


def _require_decider(
    record: DomainRecord,
    request_id: str,
    by: str,
    approver: bool,
    meta: Mapping[str, Any],
) -> PendingApproval:
    pending = record.pending_approval
    if pending is None or pending.id != request_id:
        raise StaleRequestError(_stale_text(meta, record, request_id))
    if pending.by == by:
        raise NotAllowedError(
            "You asked for this OK yourself: another approver must sign it off. "
            "To withdraw it, set another status."
        )
    if not approver:
        raise NotAllowedError(
            "Only the sign-off approvers (close.sign_off.approvers) can approve or reject."
        )
    return pending


def _approve(
    work: WorkingState, old: DomainRecord, pending: PendingApproval, by: str, now: datetime
) -> Change:

    since = old.since if (old.status is Status.OK and old.since) else now
    # The requester's OK, as asked; the request and any dispute end with it.
    new = old._replace(
        status=Status.OK,
        message=pending.message,
        updated_at=now,
        updated_by=pending.by,
        since=since,
        pending_approval=None,
        approved_by=by,
        disputed=None,
    )
    change = Change(old, new)
    work.put_record((old.app, old.domain), new.to_json())
    work.add_history(change.history_entry().to_json())
    return change


def _reject(work: WorkingState, old: DomainRecord) -> Change:

    new = old._replace(pending_approval=None)
    work.put_record((old.app, old.domain), new.to_json())
    return Change(old, new)


def _stale_text(meta: Mapping[str, Any], record: DomainRecord, request_id: str) -> str:
    known = requests(meta).get(request_id)
    name = f"{record.app} / {record.domain}"
    if known is None or known.state == PENDING:
        return f"This sign-off request for {name} is no longer pending."
    who = (known.decided_by or "system").removeprefix(SLACK_PREFIX)
    return f"This sign-off request for {name} was {known.state} already (by {who})."
