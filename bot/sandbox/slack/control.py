"""Arranging a sandbox: members, channels, canvases, triggers, rate limits and faults."""

from __future__ import annotations

from bot.sandbox.serving import Gate
from bot.sandbox.slack.channels import Channel
from bot.sandbox.slack.faults import Fault, FaultPlan
from bot.sandbox.slack.ratelimit import METHOD_LIMITS, RateLimiter
from bot.sandbox.slack.records import User
from bot.sandbox.slack.workspace import Workspace


class SandboxControl:
    """What a test sets up before the app runs, and the faults it scripts (a mixin)."""

    _workspace: Workspace
    _limiter: RateLimiter
    _faults: FaultPlan

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        tz: str = "UTC",
        is_bot: bool = False,
    ) -> User:
        """Configure a member for ``users.info`` and for payloads sent on their behalf."""
        user = User(user_id, name or user_id.lower(), real_name or name or user_id, tz, is_bot)
        with self._workspace.changed:
            self._workspace.users[user_id] = user
        return user

    def add_usergroup(self, usergroup_id: str, members: list[str]) -> None:
        """Configure a user group for ``usergroups.users.list``."""
        with self._workspace.changed:
            self._workspace.usergroups[usergroup_id] = list(members)

    def add_channel(
        self, channel_id: str, name: str, *, private: bool = False, member: bool = True
    ) -> None:
        """Create a channel (``C0GENERAL`` ``#general`` exists from the start).

        Slack refuses every other channel id with ``channel_not_found``, and so does it
        a private channel the bot was not invited to (``member=False``).
        """
        with self._workspace.changed:
            self._workspace.channels.add(Channel(channel_id, name, private, member))

    def set_app_token_scopes(self, *scopes: str) -> None:
        """Give the app-level token these scopes (default: ``connections:write``)."""
        with self._workspace.changed:
            self._workspace.app_token_scopes = frozenset(scopes)

    def create_canvas(
        self, markdown: str = "", *, title: str = "", channel_id: str | None = None
    ) -> str:
        """Create a canvas directly (a channel canvas when ``channel_id`` is given); its id."""
        with self._workspace.changed:
            if channel_id and self._workspace.canvases.channel_canvas(channel_id):
                raise ValueError(f"channel {channel_id} already has a canvas")
            return self._workspace.canvases.create(markdown, title, channel_id)

    @property
    def trigger_ttl(self) -> float:
        """Seconds a trigger_id stays valid (Slack: 3)."""
        return self._workspace.triggers.ttl

    @trigger_ttl.setter
    def trigger_ttl(self, seconds: float) -> None:
        self._workspace.triggers.ttl = seconds

    def configure_rate_limits(
        self,
        *,
        enabled: bool | None = None,
        rate_scale: float | None = None,
        window_seconds: float | None = None,
    ) -> None:
        """Switch limits on/off, scale every tier, shorten the window; resets the counts."""
        self._limiter.configure(
            enabled=enabled, rate_scale=rate_scale, window_seconds=window_seconds
        )

    def rate_limit(self, method: str) -> int:
        """Calls of ``method`` one token may make per window with the current scale."""
        return self._limiter.limit_for(method)

    def inject(
        self,
        method: str,
        status: int | None = 429,
        *,
        times: int = 1,
        retry_after: int = 1,
        delay: float = 0.0,
        error: str | None = None,
    ) -> None:
        """Script the next ``times`` calls of ``method``: delay, then 429/5xx/``error``."""
        if method not in METHOD_LIMITS:
            raise ValueError(f"the sandbox does not implement {method!r}")
        fault = Fault(status=status, retry_after=retry_after, delay=delay, error=error)
        self._faults.add(method, fault, times)

    def hold(self, method: str, *, times: int = 1) -> Gate:
        """Hold the next ``times`` calls of ``method`` until the returned gate is released.

        The call is then handled as usual (authentication, rate limits, the answer).
        """
        if method not in METHOD_LIMITS:
            raise ValueError(f"the sandbox does not implement {method!r}")
        gate = Gate()
        self._faults.add(method, Fault(status=None, gate=gate), times)
        return gate

    def clear_faults(self) -> None:
        """Drop every scripted fault that has not fired yet."""
        self._faults.clear()
