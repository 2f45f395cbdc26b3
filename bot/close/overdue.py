"""Deadlines passing: the durable overdue markers and the one alert per domain per close.

:func:`mark_passed` records, in one commit, every deadline of the current close that
has passed (:data:`~bot.close.live.PASSED_META`; the canvas shows such a row as overdue
while it is not OK, so this commit is the board change that republishes it) and queues
an alert for each of those domains that is not OK (:data:`ALERTS_META` ``pending``).

:func:`send_alerts` posts each queued alert to the channel, then moves it to ``sent``:
send, then record. A crash in between may repeat that one alert; none is lost, and a
restart never alerts a domain again. Both markers name their period, so a new close
starts with none.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk import WebClient

from bot.close.calendar import CloseCalendar, key_name
from bot.close.live import PASSED_META, PERIOD_META, marker_keys
from bot.errors import StoreError
from bot.model import DomainRecord, Status
from bot.service import Change, StatusService
from bot.slack.client import WEB_API_ERRORS
from bot.slack.text import escape, slack_date
from bot.store import WorkingState

logger = logging.getLogger(__name__)

ALERTS_META = "close.alerts"  # {"period", "pending": [APP/DOMAIN], "sent": [APP/DOMAIN]}


@dataclass(frozen=True)
class Alerts:
    """The alert queue of one close."""

    period: str
    pending: list[str]
    sent: list[str]

    @classmethod
    def read(cls, meta: Mapping[str, Any], period: str) -> Alerts:
        """The queue kept in ``meta`` for ``period`` (empty for another period)."""
        value = meta.get(ALERTS_META)
        if isinstance(value, Mapping) and value.get("period") == period:
            return cls(period, list(value.get("pending") or []), list(value.get("sent") or []))
        return cls(period, [], [])

    def to_json(self) -> dict[str, Any]:
        """The meta value."""
        return {"period": self.period, "pending": self.pending, "sent": self.sent}


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
                work.put_meta(
                    ALERTS_META, Alerts(period, queue.pending + late, queue.sent).to_json()
                )
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


def send_alerts(
    service: StatusService,
    calendar: CloseCalendar,
    client: WebClient,
    channel: str,
    period: str,
    posted: set[str],
) -> bool:
    """Post every queued alert of ``period``; True when none is left queued.

    ``posted`` remembers, for this process, the alerts posted but not yet recorded (the
    store refused the write): they are recorded later, never posted again.
    """
    queue = Alerts.read(service.store.snapshot().meta, period)
    names = {key_name(k): k for k in service.layout.domain_keys()}
    for name in queue.pending:
        if name in queue.sent:
            continue
        key = names.get(name)
        record = service.get(*key) if key is not None else None
        # A domain that became OK before its alert went out is no longer overdue.
        still_due = record is not None and record.status is not Status.OK
        if key is not None and record is not None and still_due and name not in posted:
            text = alert_text(calendar, record, calendar.due_at(period, key))
            try:
                client.chat_postMessage(channel=channel, text=text)
            except WEB_API_ERRORS as exc:
                logger.warning("close alert for %s not sent (%s); will retry", name, exc)
                return False
            posted.add(name)
            logger.info("close %s: overdue alert sent for %s", period, name)
        try:
            _record_sent(service, period, name)
        except StoreError as exc:
            logger.warning("close alert for %s sent but not recorded (%s); will retry", name, exc)
            return False
        posted.discard(name)
    return True


def _record_sent(service: StatusService, period: str, name: str) -> None:
    def mutation(work: WorkingState) -> None:
        queue = Alerts.read(work.meta, period)
        pending = [n for n in queue.pending if n != name]
        sent = queue.sent if name in queue.sent else [*queue.sent, name]
        work.put_meta(ALERTS_META, Alerts(period, pending, sent).to_json())

    service.store.commit(mutation)
