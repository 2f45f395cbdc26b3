"""Who may change statuses from Slack: ``EPMPULSE_EDITORS`` users and usergroups.

Ids starting with ``S`` are usergroups, resolved with ``usergroups.users.list`` and
cached for five minutes; anything else is a user id (``U…``/``W…``). An empty list
lets everyone edit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from slack_sdk import WebClient

from bot.errors import NotAllowedError
from bot.metrics import Metrics
from bot.slack.client import WEB_API_ERRORS

logger = logging.getLogger(__name__)

GROUP_TTL_SECONDS = 300.0


@dataclass(frozen=True)
class _Members:
    users: frozenset[str]
    fetched_at: float


class Editors:
    """Answers whether a Slack user may change statuses."""

    def __init__(
        self,
        editor_ids: Iterable[str],
        client: WebClient,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = GROUP_TTL_SECONDS,
    ) -> None:
        ids = [i.strip() for i in editor_ids if i.strip()]
        self.users = frozenset(i for i in ids if not i.startswith("S"))
        self.groups = tuple(dict.fromkeys(i for i in ids if i.startswith("S")))
        self._client = client
        self._metrics = metrics
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[str, _Members] = {}
        self._lock = threading.Lock()

    @property
    def everyone(self) -> bool:
        """True when no editors are configured, so everyone may edit."""
        return not self.users and not self.groups

    def is_editor(self, user_id: str) -> bool:
        """Whether ``user_id`` may change statuses."""
        if self.everyone or user_id in self.users:
            return True
        return any(user_id in self._members(group) for group in self.groups)

    def require(self, user_id: str) -> None:
        """Raise NotAllowedError (and count it) unless ``user_id`` may change statuses."""
        if self.is_editor(user_id):
            return
        if self._metrics is not None:
            self._metrics.count_update(f"slack:{user_id}", "not_allowed")
        logger.info("refused a status change by %s: not an editor", user_id)
        raise NotAllowedError(
            "You are not allowed to change statuses; you can still read them. "
            "Ask an EPMPulse admin to add you (or your user group) to EPMPULSE_EDITORS."
        )

    def _members(self, group: str) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group)
            if cached is not None and now - cached.fetched_at < self._ttl:
                return cached.users
        try:
            response = self._client.usergroups_users_list(usergroup=group)
        except WEB_API_ERRORS:
            # A stale answer beats locking every editor out while Slack hiccups.
            logger.warning("cannot list members of usergroup %s", group, exc_info=True)
            return cached.users if cached is not None else frozenset()
        users = frozenset(str(u) for u in response.get("users") or [])
        with self._lock:
            self._cache[group] = _Members(users, now)
        return users
