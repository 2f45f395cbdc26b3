"""What the API's routes and guard work with, kept on ``app.state``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from bot.api.auth import KeyRing
from bot.api.ratelimit import RateLimiter
from bot.leader import Role, instance_name
from bot.metrics import Metrics
from bot.parts import Check
from bot.service import StatusService

if TYPE_CHECKING:
    from bot.epm.launch import JobLauncher
    from bot.estate import Estate

API_PREFIX = "/api/v1"
HealthCheck = Callable[[], Mapping[str, Check]]


@dataclass(frozen=True)
class ApiContext:
    """The status service, metrics, health checks, keys and limiter of one API app."""

    service: StatusService
    metrics: Metrics
    health: HealthCheck
    keys: KeyRing
    limiter: RateLimiter
    launcher: JobLauncher | None = None  # POST /jobs; None: only domains without jobs exist
    role: Callable[[], Role] = field(default=lambda: Role(True, instance_name()))

    @property
    def estate(self) -> Estate | None:
        """The job specs, which come with the launcher (None: no job can start)."""
        return self.launcher.estate if self.launcher is not None else None


def context_of(request: Request) -> ApiContext:
    """The context of the app serving ``request``."""
    context: ApiContext = request.app.state.api
    return context
