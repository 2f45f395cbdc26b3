"""Holding and releasing an automatic start (SPEC §17): the veto, as plain service calls.

``/epmpulse hold|release APP DOMAIN``, the announcement's *Hold* button and ``POST
/api/v1/holds`` all call :func:`hold` or :func:`release`. A hold belongs to the current
close and is kept with the board (:data:`~bot.close.conductor.HOLDS_META`), so every
instance and the next leader see it. It may be set before the start is announced (hold
tonight's consolidation in advance); it cannot stop a start already made. Releasing a
start whose time has passed lets the conductor start it at once.

The editor check belongs to the caller (Slack knows editors, the REST API keys).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.close.conductor import (
    HOLDS_META,
    auto_start_keys,
    board_period,
    period_value,
    started_of,
)
from bot.errors import ValidationError
from bot.model import RecordKey, format_time
from bot.service import Change, StatusService
from bot.store import WorkingState

if TYPE_CHECKING:
    from bot.estate import Estate

logger = logging.getLogger(__name__)


class NoAutoStartError(ValidationError):
    """A hold or release of a domain whose job does not start by itself."""

    code = "INVALID_DOMAIN"


@dataclass(frozen=True)
class HoldResult:
    """What a hold or release did: the domain, whether it is held now, and whether it was."""

    app: str
    domain: str
    held: bool
    changed: bool
    by: str
    period: str


def hold(
    service: StatusService, estate: Estate | None, app: str, domain: str, *, by: str
) -> HoldResult:
    """Hold the automatic start of ``APP DOMAIN`` in this close; durable on return.

    ``estate`` holds the job specs (None: no job is configured to start by itself).
    """
    return _set(service, estate, app, domain, held=True, by=by)


def release(
    service: StatusService, estate: Estate | None, app: str, domain: str, *, by: str
) -> HoldResult:
    """Release a hold; the conductor starts the job when (or if already) it is due."""
    return _set(service, estate, app, domain, held=False, by=by)


def auto_start_key(
    service: StatusService, estate: Estate | None, app: str, domain: str
) -> RecordKey:
    """The canonical key of an auto-started domain; ValidationError naming those that are."""
    key = service.layout.resolve_domain(app, domain)
    keys = auto_start_keys(estate) if estate is not None else []
    if key not in keys:
        names = ", ".join(f"{a}/{d}" for a, d in keys) or "none are configured"
        raise NoAutoStartError(
            f"{key[0]} / {key[1]} does not start by itself, so there is nothing to hold or "
            f"release. Domains whose job has auto_start: {names}."
        )
    return key


def _set(
    service: StatusService, estate: Estate | None, app: str, domain: str, *, held: bool, by: str
) -> HoldResult:
    key = auto_start_key(service, estate, app, domain)
    calendar = service.close.calendar
    name = f"{key[0]}/{key[1]}"

    def mutation(work: WorkingState, now: datetime) -> tuple[HoldResult, list[Change]]:
        period = board_period(work.meta, calendar, now)
        if held and name in started_of(work.meta, period):
            raise ValidationError(
                f"{key[0]} / {key[1]} already started by itself in the close of {period}; "
                "a hold cannot stop it (it never starts by itself twice in one close)."
            )
        value = period_value(work.meta, HOLDS_META, period)
        holds = dict(value.get("held") or {})
        changed = (name in holds) != held
        if held and changed:
            holds[name] = {"by": by, "at": format_time(now)}
        elif not held:
            holds.pop(name, None)
        if changed:
            work.put_meta(HOLDS_META, {"period": period, "held": holds})
        return HoldResult(key[0], key[1], held, changed, by, period), []

    result = service.transact(mutation)
    if result.changed:
        verb = "held" if held else "released"
        logger.info("%s / %s: automatic start %s by %s", key[0], key[1], verb, by)
    return result
