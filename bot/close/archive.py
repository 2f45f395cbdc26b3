"""Where close archives live: one store meta value per archived period.

An archive is ``{"period": "YYYY-MM", "domains": [{app, domain, status, due_at,
ok_at, late}, ...]}`` (SPEC §11), kept under the meta key ``close.archive.YYYY-MM``
so that both stores keep it durably with no schema of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.close.periods import format_period, parse_period
from bot.errors import ValidationError
from bot.model import Status, parse_time

ARCHIVE_PREFIX = "close.archive."


def archive_key(period: str) -> str:
    """The meta key of ``period``'s archive."""
    return f"{ARCHIVE_PREFIX}{period}"


def archived_periods(meta: Mapping[str, Any]) -> list[str]:
    """Every archived period, oldest first."""
    return sorted(key[len(ARCHIVE_PREFIX) :] for key in meta if key.startswith(ARCHIVE_PREFIX))


def load_archive(meta: Mapping[str, Any], period: str) -> dict[str, Any] | None:
    """The archive of ``period``, or None when it was never archived."""
    value = meta.get(archive_key(period))
    return dict(value) if isinstance(value, Mapping) else None


def find_archive(meta: Mapping[str, Any], period: str) -> tuple[str, dict[str, Any] | None]:
    """``period`` as ``YYYY-MM`` and its archive (None: never archived).

    Raises ValidationError for a period that is not ``YYYY-MM``.
    """
    try:
        year, month = parse_period(period)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    canonical = format_period(year, month)
    return canonical, load_archive(meta, canonical)


def no_archive_error(meta: Mapping[str, Any], period: str, running: str) -> ValidationError:
    """The refusal of ``period``, never archived, naming those that are and the close running."""
    kept = ", ".join(archived_periods(meta)) or "none yet"
    return ValidationError(
        f"The close of {period} has no archive. Archived: {kept}; "
        f"the close running now is {running}."
    )


def archive_outcome(archive: Mapping[str, Any]) -> tuple[int, int, list[Mapping[str, Any]]]:
    """How many domains of an archived close were OK, how many it had, and the late ones."""
    domains = [d for d in archive.get("domains") or [] if isinstance(d, Mapping)]
    ok = sum(1 for d in domains if d.get("status") == Status.OK)
    return ok, len(domains), [d for d in domains if d.get("late")]


def archived_time(value: object) -> datetime | None:
    """A time kept in an archive (``ok_at``, ``due_at``); None when absent or unreadable."""
    try:
        return parse_time(value)
    except ValueError:
        return None
