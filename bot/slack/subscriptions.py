"""Who wants a direct message when an app or domain changes, kept in the store's meta."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.service import Change, StatusService
from bot.store import WorkingState

META_KEY = "slack_subscriptions"


@dataclass(frozen=True)
class Subscription:
    """A user following one app (``domain`` None) or one domain of it."""

    user: str
    app: str
    domain: str | None = None

    @property
    def target(self) -> str:
        """``APP`` or ``APP / DOMAIN``, for messages."""
        return self.app if self.domain is None else f"{self.app} / {self.domain}"

    def covers(self, app: str, domain: str) -> bool:
        """Whether a change of ``app``/``domain`` concerns this subscription."""
        return self.app == app and self.domain in (None, domain)

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"user": self.user, "app": self.app, "domain": self.domain}


class Subscriptions:
    """Reads and changes subscriptions durably, through the status service's store."""

    def __init__(self, service: StatusService) -> None:
        self._service = service

    def all(self) -> list[Subscription]:
        """Every subscription, in the order they were made."""
        return _decode(self._service.meta(META_KEY, []))

    def of_user(self, user: str) -> list[Subscription]:
        """The subscriptions of one user."""
        return [s for s in self.all() if s.user == user]

    def subscribe(self, user: str, app: str, domain: str | None = None) -> bool:
        """Follow ``app`` (or one domain); False if already following. Names must be canonical."""
        wanted = Subscription(user, app, domain)
        return self._edit(lambda subs: None if wanted in subs else [*subs, wanted])

    def unsubscribe(self, user: str, app: str, domain: str | None = None) -> bool:
        """Stop following; False if there was no such subscription."""
        wanted = Subscription(user, app, domain)
        return self._edit(lambda subs: [s for s in subs if s != wanted] if wanted in subs else None)

    def subscribers(self, changes: list[Change]) -> dict[str, list[Change]]:
        """Each subscribed user and the changes that concern them (one DM per user)."""
        found: dict[str, list[Change]] = {}
        subs = self.all()
        for change in changes:
            users = {s.user for s in subs if s.covers(change.new.app, change.new.domain)}
            for user in sorted(users):
                found.setdefault(user, []).append(change)
        return found

    def _edit(self, edit: Callable[[list[Subscription]], list[Subscription] | None]) -> bool:
        # Read-modify-write inside one commit, so concurrent (un)subscribes lose nothing.
        def mutation(work: WorkingState, _now: datetime) -> tuple[bool, list[Change]]:
            updated = edit(_decode(work.meta.get(META_KEY, [])))
            if updated is None:
                return False, []
            work.put_meta(META_KEY, [s.to_json() for s in updated])
            return True, []

        return bool(self._service.transact(mutation))


def _decode(raw: Any) -> list[Subscription]:
    if not isinstance(raw, list):
        return []
    return [
        Subscription(str(item["user"]), str(item["app"]), item.get("domain"))
        for item in raw
        if isinstance(item, dict) and item.get("user") and item.get("app")
    ]
