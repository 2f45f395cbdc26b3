"""The EPM part of ``epmpulse run``: clients, the poll job and the token refresh job."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from apscheduler.schedulers.base import BaseScheduler

from bot import schedule
from bot.config import Config
from bot.epm.client import EpmClient
from bot.epm.poller import Poller
from bot.epm.tokens import token_storage
from bot.errors import EpmError
from bot.estate import BasicAuth
from bot.metrics import Metrics
from bot.model import format_time, utcnow
from bot.parts import Check, Host
from bot.proxy import Proxies
from bot.service import StatusService
from bot.store import Store

logger = logging.getLogger(__name__)

POLL_JOB = "epm-poll"
TOKEN_JOB = "epm-tokens"  # noqa: S105  (a job id, not a secret)
TOKEN_CHECK_SECONDS = 30.0
# Renew tokens that would go stale before the job's next run (with slack for jitter).
TOKEN_HORIZON = TOKEN_CHECK_SECONDS * 1.5


def build_clients(
    config: Config, metrics: Metrics | None = None, store: Store | None = None
) -> dict[str, EpmClient]:
    """One client per configured EPM server, pooled for the poller's worker count.

    Rotated refresh tokens go to ``store`` when it is the shared database.
    """
    epm = config.estate.epm
    return {
        name: EpmClient(
            name,
            server,
            data_dir=config.settings.data_dir,
            pool_size=epm.max_workers,
            metrics=metrics,
            token_file=token_storage(config.settings, name, store),
            proxies=Proxies.from_settings(config.settings),
        )
        for name, server in epm.servers.items()
    }


def close_clients(clients: Mapping[str, EpmClient]) -> None:
    """Close every client's connections."""
    for client in clients.values():
        client.close()


class EpmPart:
    """Polls tracked EPM jobs on the runtime's scheduler and keeps OAuth tokens fresh."""

    name = "epm"

    def __init__(
        self,
        config: Config,
        service: StatusService,
        scheduler: BaseScheduler,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
        clients: Mapping[str, EpmClient] | None = None,
    ) -> None:
        self.config = config
        self.scheduler = scheduler
        # Clients handed in are shared (job starts use them on every instance) and are
        # closed by their owner; only clients built here are closed on stop.
        self._owns_clients = clients is None
        self.clients = (
            dict(clients) if clients is not None else build_clients(config, metrics, service.store)
        )
        self.poller = Poller(
            service,
            self.clients,
            max_workers=config.estate.epm.max_workers,
            max_loading_minutes=config.estate.staleness.max_loading_minutes,
            metrics=metrics,
            clock=clock,
        )
        self._token_errors: dict[str, str] = {}
        self._started = False

    @classmethod
    def from_runtime(cls, runtime: Host, clients: Mapping[str, EpmClient] | None = None) -> EpmPart:
        """The EPM part wired to a runtime's config, service, scheduler and metrics."""
        return cls(
            runtime.config,
            runtime.service,
            runtime.scheduler,
            metrics=runtime.metrics,
            clients=clients,
        )

    def start(self) -> None:
        """Schedule the poll (first run now, so tracked jobs resume) and token refreshes."""
        interval = self.config.poll_interval_seconds
        schedule.every(self.scheduler, interval, self.poller.run_cycle, POLL_JOB)
        if any(not isinstance(s.auth, BasicAuth) for s in self.config.estate.epm.servers.values()):
            schedule.every(self.scheduler, TOKEN_CHECK_SECONDS, self.refresh_tokens, TOKEN_JOB)
        self._started = True
        logger.info(
            "EPM poller: %d server(s), every %.0fs, %d worker(s)",
            len(self.clients),
            self.config.poll_interval_seconds,
            self.config.estate.epm.max_workers,
        )

    def stop(self) -> None:
        """Unschedule both jobs, cancel queued polls, close connections."""
        schedule.cancel(self.scheduler, POLL_JOB, TOKEN_JOB)
        self.poller.close()
        if self._owns_clients:
            close_clients(self.clients)
        self._started = False

    def health(self) -> Check:
        """Failing when a server keeps failing (polls or token refreshes)."""
        if not self._started:
            return Check(False, "not started")
        problems = {**self.poller.failing(), **self._token_errors}
        if problems:
            detail = "; ".join(f"{name} {why}" for name, why in sorted(problems.items()))
            return Check(False, detail)
        if not self.clients:
            return Check(True, "no EPM servers configured (stale rule only)")
        last = self.poller.last
        if last is None:
            return Check(True, f"{len(self.clients)} server(s); no poll yet")
        return Check(
            True,
            f"{len(self.clients)} server(s); last poll {format_time(last.at)}: "
            f"{last.jobs} job(s), {last.failed} failed",
        )

    def refresh_tokens(self) -> None:
        """Renew every OAuth access token that would go stale before the next run."""
        for name, client in self.clients.items():
            try:
                client.refresh_token_if_due(TOKEN_HORIZON)
            except EpmError as exc:
                self._token_errors[name] = f"token refresh failed: {exc}"
                level = logging.ERROR if exc.permanent else logging.WARNING
                logger.log(level, "EPM %s: ahead-of-time token refresh failed: %s", name, exc)
            else:
                self._token_errors.pop(name, None)
