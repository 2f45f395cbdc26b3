"""Deadlines passing: the durable overdue markers and the one alert per domain per close.

:func:`mark_passed` records, in one commit, every deadline of the current close that
has passed (:data:`~bot.close.live.PASSED_META`; the canvas shows such a row as overdue
while it is not OK, so this commit is the board change that republishes it) and queues
an alert for each of those domains that is not OK (:data:`ALERTS_META` ``pending``).

:class:`OverdueAlerts` sends them (SPEC §15): each alert is first **claimed** in a commit
fenced by the leader's epoch (``claimed``: name → epoch), then posted through the
leader's leased client, then recorded as ``sent``. A leader whose epoch is over cannot
claim, so it posts nothing. A claim left by a crash (or an older leader) is posted again
by the next leader: a crash between sending and recording may repeat that one alert,
and none is lost. An alert Slack refuses for good (``channel_not_found``,
``is_archived``…) is logged and recorded as ``dropped``, so it blocks no other; a
transient failure leaves it claimed for a retry. Both markers name their period, so a
new close starts with none.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.close.calendar import CloseCalendar, key_name
from bot.close.live import PASSED_META, PERIOD_META, marker_keys
from bot.errors import StoreError
from bot.lease import FencedError, Lease
from bot.model import DomainRecord, Status
from bot.sending import Outcome, Post, Sender
from bot.service import Change, StatusService
from bot.slack.mrkdwn import escape, slack_date
from bot.store import WorkingState

logger = logging.getLogger(__name__)

# {"period", "pending": [APP/DOMAIN], "claimed": {APP/DOMAIN: epoch}, "sent": [...],
#  "dropped": [...]}
ALERTS_META = "close.alerts"


@dataclass(frozen=True)
class Alerts:
    """The alert queue of one close."""

    period: str
    pending: list[str]
    sent: list[str]
    claimed: dict[str, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, meta: Mapping[str, Any], period: str) -> Alerts:
        """The queue kept in ``meta`` for ``period`` (empty for another period)."""
        value = meta.get(ALERTS_META)
        if isinstance(value, Mapping) and value.get("period") == period:
            claimed = value.get("claimed")
            return cls(
                period,
                list(value.get("pending") or []),
                list(value.get("sent") or []),
                dict(claimed) if isinstance(claimed, Mapping) else {},
                list(value.get("dropped") or []),
            )
        return cls(period, [], [])

    @property
    def queued(self) -> list[str]:
        """Alerts still to send: claimed ones first (a retry), then the pending ones."""
        done = {*self.sent, *self.dropped}
        names = [*self.claimed, *(n for n in self.pending if n not in self.claimed)]
        return [n for n in names if n not in done]

    def to_json(self) -> dict[str, Any]:
        """The meta value."""
        return {
            "period": self.period,
            "pending": self.pending,
            "claimed": self.claimed,
            "sent": self.sent,
            "dropped": self.dropped,
        }


def current_period(service: StatusService, calendar: CloseCalendar, now: datetime) -> str:
    """The period the board belongs to (its marker), else the one being closed at ``now``."""
    period = service.meta(PERIOD_META)
    return period if isinstance(period, str) else calendar.period_at(now)


def mark_passed(
    service: StatusService, calendar: CloseCalendar, now: datetime, *, alerting: bool
) -> list[str]:
    """Record every deadline passed by ``now``; queue alerts (when ``alerting``). New names."""
    period = current_period(service, calendar, now)
    due = [
        (key, at)
        for key in calendar.deadlines
        if (at := calendar.due_at(period, key)) is not None and at <= now
    ]
    known = set(marker_keys(service.store.snapshot().meta, PASSED_META, period))
    if all(key_name(key) in known for key, _ in due):
        return []

    def mutation(work: WorkingState, _at: datetime) -> tuple[list[str], list[Change]]:
        passed = marker_keys(work.meta, PASSED_META, period)
        new = [key for key, _ in due if key_name(key) not in passed]
        if not new:
            return [], []
        work.put_meta(PASSED_META, {"period": period, "keys": passed + [key_name(k) for k in new]})
        if alerting:
            queue = Alerts.read(work.meta, period)
            late = [
                key_name(key)
                for key in new
                if service.current(work, key).status is not Status.OK
                and key_name(key) not in queue.sent
            ]
            if late:
                work.put_meta(ALERTS_META, replace(queue, pending=queue.pending + late).to_json())
        return [key_name(k) for k in new], []

    marked = service.transact(mutation)
    if marked:
        logger.info("close %s: deadline passed for %s", period, ", ".join(marked))
    return marked


def alert_text(calendar: CloseCalendar, record: DomainRecord, due_at: datetime | None) -> str:
    """The channel message: the domain, its deadline and its status."""
    rule = calendar.deadline((record.app, record.domain))
    label = f"{rule.label} " if rule is not None else ""
    when = f"({slack_date(due_at)})" if due_at is not None else ""
    text = (
        f":rotating_light: *{escape(record.app)} / {escape(record.domain)}* is overdue: "
        f"due {label}{when}, status {record.status.emoji} *{record.status.value}*"
    )
    if record.message:
        text += f" · {escape(record.message.replace(chr(10), ' '))}"
    return text


class OverdueAlerts(Sender):
    """Sends the queued overdue alerts of a close: claim, post, record (see the module docs).

    ``post`` sends one message to the channel (the leader's leased Slack client behind it).
    """

    what = "overdue alerts"

    def __init__(
        self,
        service: StatusService,
        calendar: CloseCalendar,
        post: Post,
        *,
        lease: Lease | None = None,
    ) -> None:
        super().__init__(lease)
        self._service = service
        self._calendar = calendar
        self._post = post
        self._posted: set[str] = set()  # posted, but the record failed: record, never re-post

    def send(self, period: str) -> bool:
        """Post every queued alert of ``period``; True when none is left queued."""
        try:
            for name in list(self._posted):  # first what went out but was not recorded
                self._finish(period, name, "sent")
            for name in Alerts.read(self._service.store.snapshot().meta, period).queued:
                if self._halted or not self._send_one(period, name):
                    return False
        except FencedError as exc:
            return self._fenced_out(exc)
        except StoreError as exc:
            logger.warning("overdue alerts paused: cannot record them (%s); will retry", exc)
            return False
        return True

    def _send_one(self, period: str, name: str) -> bool:
        key = next((k for k in self._service.layout.domain_keys() if key_name(k) == name), None)
        record = self._service.get(*key) if key is not None else None
        # A domain that became OK before its alert went out is no longer overdue.
        if key is None or record is None or record.status is Status.OK:
            self._finish(period, name, "sent")
            return True
        self._claim(period, name)
        text = alert_text(self._calendar, record, self._calendar.due_at(period, key))
        result = self._post(text, what=f"the overdue alert of {name}")
        if not self._went_out(result):
            return False
        if result.outcome is Outcome.SENT:
            self._posted.add(name)
            logger.info("close %s: overdue alert sent for %s", period, name)
        self._finish(period, name, "sent" if result.outcome is Outcome.SENT else "dropped")
        return True

    def _claim(self, period: str, name: str) -> None:
        epoch = self._lease.epoch

        def claim(work: WorkingState) -> None:
            queue = Alerts.read(work.meta, period)
            if queue.claimed.get(name) != epoch:
                claimed = {**queue.claimed, name: epoch}
                work.put_meta(ALERTS_META, replace(queue, claimed=claimed).to_json())

        self._service.store.commit(self._lease.fenced(claim))

    def _finish(self, period: str, name: str, outcome: str) -> None:
        def finish(work: WorkingState) -> None:
            queue = Alerts.read(work.meta, period)
            value = queue.to_json()
            value["pending"] = [n for n in queue.pending if n != name]
            value["claimed"] = {n: e for n, e in queue.claimed.items() if n != name}
            if name not in value[outcome]:
                value[outcome] = [*value[outcome], name]
            work.put_meta(ALERTS_META, value)

        self._service.store.commit(self._lease.fenced(finish))
        self._posted.discard(name)
