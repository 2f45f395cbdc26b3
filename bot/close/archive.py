"""Where close archives live: one store meta value per archived period.

An archive is ``{"period": "YYYY-MM", "domains": [{app, domain, status, due_at,
ok_at, late}, ...]}`` (SPEC §11), kept under the meta key ``close.archive.YYYY-MM``
so that both stores keep it durably with no schema of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
