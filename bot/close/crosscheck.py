"""The cross-check (SPEC §17): an OK that EPM contradicts gets ``disputed: "<why>"``.

Two cases, read from the change log of the current close:

- a person or key (``slack:…``, ``api:…``) sets OK while the domain's last EPM job in
  this close ended in Error;
- a tracked job ends in Error (``epm:…``) right after a person or key set OK.

The leader reads the change log after its own cursor (:data:`CROSSCHECK_META`
``{"version", "queue": {post key: text}}``), so a change made anywhere (Slack, REST,
another instance) is checked once. A dispute is written onto the record in the same
commit that moves the cursor on, fenced by the leader's epoch, and only while the record
is still as that change left it. It adds no history line. The next change of the domain
builds a new record without it, which is how "the next change clears it" holds. The
one alert per dispute waits in ``queue`` until the conductor has posted it (claim, post,
record, as every post of the conductor).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.close.calendar import CloseCalendar
from bot.model import DomainRecord, HistoryEntry, RecordKey, Status, format_time
from bot.store import Store, WorkingState
from bot.store.base import JsonDict

CROSSCHECK_META = "close.crosscheck"
PEOPLE = ("slack:", "api:")
EPM = "epm:"
LOOKBACK = 50  # earlier changes of the domain read to judge one change


@dataclass(frozen=True)
class Dispute:
    """One change EPM contradicts."""

    key: RecordKey
    version: int
    change: HistoryEntry
    why: str

    @property
    def post_key(self) -> str:
        """The key of its alert among the conductor's posts."""
        return f"disputed:{self.key[0]}/{self.key[1]}:{self.version}"

    def alert(self) -> str:
        """The alert's text (escaped by the caller)."""
        return f"{self.key[0]} / {self.key[1]} is disputed: {self.why}"


def cursor_of(meta: Mapping[str, Any]) -> int | None:
    """How far the change log was checked; None before the first check."""
    value = meta.get(CROSSCHECK_META)
    if isinstance(value, Mapping) and isinstance(value.get("version"), int):
        return int(value["version"])
    return None


def queue_of(meta: Mapping[str, Any]) -> dict[str, str]:
    """Dispute alerts not yet posted: post key -> text."""
    value = meta.get(CROSSCHECK_META)
    queue = value.get("queue") if isinstance(value, Mapping) else None
    return {str(k): str(v) for k, v in queue.items()} if isinstance(queue, Mapping) else {}


def find(
    store: Store, calendar: CloseCalendar, period: str, entries: Iterable[JsonDict]
) -> list[Dispute]:
    """The disputes among ``entries`` (history lines of commits after the cursor)."""
    close_start = calendar.close_start(period)
    found = []
    for entry in entries:
        try:
            change = HistoryEntry.from_json(entry)
        except ValueError:
            continue  # the alert delivery logs unreadable entries
        version = int(entry.get("version", 0))
        if change.at < close_start or not _may_dispute(change):
            continue
        earlier = [
            parsed
            for e in store.history(change.app, change.domain, LOOKBACK)
            if int(e.get("version", 0)) < version
            and (parsed := _parse(e)) is not None
            and parsed.at >= close_start
        ]
        why = _why(change, earlier)
        if why is not None:
            found.append(Dispute((change.app, change.domain), version, change, why))
    return found


def record(work: WorkingState, disputes: list[Dispute], version: int) -> list[Dispute]:
    """Inside a commit: mark each dispute whose record is as its change left it, queue its
    alert, and move the cursor to ``version``. Returns the disputes marked."""
    value = work.meta.get(CROSSCHECK_META)
    queue = dict(queue_of(work.meta))
    marked = []
    for dispute in disputes:
        data = work.records.get(dispute.key)
        if data is None:
            continue
        current = DomainRecord.from_json(data)
        change = dispute.change
        if (
            current.updated_at != change.at
            or current.updated_by != change.by
            or current.status is not change.new_status
            or current.disputed == dispute.why  # read again after a restart: marked already
        ):
            continue  # changed since: the next change clears a dispute anyway
        work.put_record(dispute.key, current._replace(disputed=dispute.why).to_json())
        queue[dispute.post_key] = dispute.alert()
        marked.append(dispute)
    cursor = value.get("version") if isinstance(value, Mapping) else None
    if cursor != version or marked:
        work.put_meta(CROSSCHECK_META, {"version": version, "queue": queue})
    return marked


def unqueue(work: WorkingState, key: str) -> None:
    """Inside a commit: drop a posted alert from the queue."""
    queue = queue_of(work.meta)
    if queue.pop(key, None) is not None:
        work.put_meta(CROSSCHECK_META, {"version": cursor_of(work.meta) or 0, "queue": queue})


def _parse(entry: JsonDict) -> HistoryEntry | None:
    try:
        return HistoryEntry.from_json(entry)
    except ValueError:
        return None


def _may_dispute(change: HistoryEntry) -> bool:
    person_ok = change.by.startswith(PEOPLE) and change.new_status is Status.OK
    epm_error = change.by.startswith(EPM) and change.new_status is Status.ERROR
    return person_ok or epm_error


def _why(change: HistoryEntry, earlier: list[HistoryEntry]) -> str | None:
    if change.by.startswith(PEOPLE):
        # The last result of an EPM job in this close (Loading is a start, not a result).
        last = next(
            (e for e in reversed(earlier) if e.by.startswith(EPM) and e.new_status in _ENDS),
            None,
        )
        if last is not None and last.new_status is Status.ERROR:
            detail = f": {last.message}" if last.message else ""
            return (
                f"set OK by {change.by}, but its last EPM job in this close ended in Error "
                f"at {format_time(last.at)}{detail}"
            )
        return None
    previous = earlier[-1] if earlier else None
    if (
        change.old_status is Status.OK
        and previous is not None
        and previous.by.startswith(PEOPLE)
        and previous.new_status is Status.OK
    ):
        detail = f" ({change.message})" if change.message else ""
        return (
            f"a tracked EPM job ended in Error{detail} after {previous.by} set OK at "
            f"{format_time(previous.at)}"
        )
    return None


_ENDS = (Status.OK, Status.WARNING, Status.ERROR)
