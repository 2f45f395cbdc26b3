"""What a part of ``epmpulse run`` is, and what it takes from the process that runs it.

These small types live below :mod:`bot.runtime`, so the parts (Slack, canvas, close,
EPM, API) depend on them and never on the runtime itself; the runtime is the one place
that knows every part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from bot.config import Config
    from bot.leader import Role
    from bot.lease import Lease
    from bot.metrics import Metrics
    from bot.service import StatusService


@dataclass(frozen=True)
class Check:
    """The result of one health check."""

    ok: bool
    detail: str


class Part(Protocol):
    """One boundary of the running process."""

    name: str

    def start(self) -> None:
        """Start serving; raise to abort start-up with a clear message."""

    def stop(self) -> None:
        """Stop serving, finishing pending work within a bounded time."""

    def health(self) -> Check:
        """Report whether this part works right now."""


class Host(Protocol):
    """What a part is built from: the process's configuration, service, scheduler, lease."""

    @property
    def config(self) -> Config:
        """The validated configuration."""

    @property
    def service(self) -> StatusService:
        """The status service every part reads and changes the board through."""

    @property
    def scheduler(self) -> BaseScheduler:
        """The scheduler the parts' jobs run on."""

    @property
    def metrics(self) -> Metrics:
        """The process's Prometheus metrics."""

    @property
    def lease(self) -> Lease:
        """The lease every side effect of a leader-only part is checked against."""

    def health(self) -> dict[str, Check]:
        """Every part's health check by name (``/health``)."""

    def role(self) -> Role:
        """Whether this instance leads, and its ``host:pid``."""
