"""The REST API's rate-limit settings: ``EPMPULSE_RATE_LIMITS`` and ``..._STORAGE`` (SPEC §7).

Parsed and checked here, outside ``bot.api``, so that :func:`bot.config.load_config`
validates them with every other setting without loading FastAPI; the limiter itself
is :mod:`bot.api.ratelimit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from limits import RateLimitItem, parse
from limits.errors import ConfigurationError
from limits.storage import Storage, storage_from_string

GROUPS = ("status", "batch", "read")
DEFAULT_LIMITS = {"status": "60/minute", "batch": "20/minute", "read": "100/minute"}
DEFAULT_STORAGE = "memory://"


@dataclass(frozen=True)
class RateLimits:
    """The limit of each group, e.g. ``RateLimits.parse("status=120/minute")``."""

    items: Mapping[str, RateLimitItem]

    @classmethod
    def default(cls) -> RateLimits:
        """60/min for POST /status, 20/min for batches, 100/min for reads."""
        return cls.parse("")

    @classmethod
    def parse(cls, text: str) -> RateLimits:
        """Parse ``group=limit`` pairs separated by commas; unnamed groups keep their default.

        Raises ValueError naming every problem.
        """
        wanted = dict(DEFAULT_LIMITS)
        problems: list[str] = []
        for pair in filter(None, (p.strip() for p in text.split(","))):
            group, sep, limit = (s.strip() for s in pair.partition("="))
            if not sep or group not in GROUPS:
                problems.append(
                    f"'{pair}' is not GROUP=LIMIT with GROUP one of {', '.join(GROUPS)}"
                )
            else:
                wanted[group] = limit
        items: dict[str, RateLimitItem] = {}
        for group, limit in wanted.items():
            try:
                items[group] = parse(limit)
            except ValueError:
                problems.append(f"{group}: '{limit}' is not a limit like '60/minute'")
        if problems:
            raise ValueError("; ".join(problems))
        return cls(items)

    def describe(self) -> str:
        """The limits in words, e.g. ``status 60 per 1 minute, …``."""
        return ", ".join(f"{group} {item}" for group, item in self.items.items())


def open_storage(uri: str) -> Storage:
    """Open the ``limits`` storage at ``uri``; raise ValueError saying what is wrong."""
    scheme = urlparse(uri).scheme
    if scheme.startswith("async+"):
        raise ValueError(f"'{uri}': use the synchronous form ('{scheme[6:]}://…')")
    try:
        storage = storage_from_string(uri)
    except ConfigurationError as exc:
        raise ValueError(f"'{uri}' is not a usable rate-limit storage: {exc}") from exc
    if not isinstance(storage, Storage):
        raise ValueError(f"'{uri}' is not a synchronous rate-limit storage")
    return storage
