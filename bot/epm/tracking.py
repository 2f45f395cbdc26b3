"""Following EPM jobs: ``track APP DOMAIN JOB_ID [SERVER]`` as a plain service call.

Tracking sets the domain to Loading and adds ``{server, job_id}`` to the jobs it
already follows (a domain may wait for up to :data:`MAX_TRACKED_JOBS` jobs, the REST
API's limit too); the poller resolves them.
The Slack command, the CLI and tests all call :func:`track`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from bot.errors import ValidationError
from bot.model import JobRef, Status
from bot.service import Change, StatusService
from bot.store import WorkingState

JOB_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
MAX_TRACKED_JOBS = 20  # per domain; each one is polled every cycle


def track(
    service: StatusService,
    app: str,
    domain: str,
    job_id: str,
    server: str | None = None,
    *,
    by: str,
) -> Change:
    """Set ``APP DOMAIN`` to Loading and follow EPM job ``job_id`` on ``server``.

    ``server`` defaults to the app's configured server; returns once durable.
    Raises ValidationError for unknown names, a bad job id, no server to use, or a
    domain that already follows :data:`MAX_TRACKED_JOBS` other jobs.
    """
    key = service.layout.resolve_domain(app, domain)
    job = JobRef(server=_server_for(service, key[0], server), job_id=_job_id(job_id))

    def mutation(work: WorkingState, now: datetime) -> tuple[Change, list[Change]]:
        jobs: Sequence[JobRef] = service.current(work, key).jobs
        if job not in jobs and len(jobs) >= MAX_TRACKED_JOBS:
            raise ValidationError(
                f"{key[0]} / {key[1]} already tracks {len(jobs)} EPM jobs, the limit is "
                f"{MAX_TRACKED_JOBS}; set its status to stop tracking them first."
            )
        jobs = [*jobs, job] if job not in jobs else jobs
        change = service.record_change(
            work, key, Status.LOADING, tracking_message(jobs), by, now, jobs=jobs
        )
        return change, [change]

    return service.transact(mutation)


def tracking_message(jobs: Sequence[JobRef]) -> str:
    """The message of a domain that waits for ``jobs``."""
    if len(jobs) == 1:
        return f"Tracking EPM job {jobs[0].job_id} on {jobs[0].server}"
    return f"Tracking {len(jobs)} EPM jobs: " + ", ".join(f"{j.server} {j.job_id}" for j in jobs)


def _server_for(service: StatusService, app: str, server: str | None) -> str:
    layout = service.layout
    if server:
        return layout.resolve_server(server)
    default = layout.apps[app].server
    if default is None:
        configured = ", ".join(layout.servers) or "none are configured"
        raise ValidationError(
            f"{app} has no default EPM server; name one after the job id "
            f"(EPM servers: {configured})."
        )
    return default


def _job_id(text: str) -> str:
    job_id = text.strip()
    if not JOB_ID.fullmatch(job_id):
        raise ValidationError(
            f"'{text}' is not a valid EPM job id (letters, digits, '_', '.', ':', '-'; "
            "up to 100 characters)."
        )
    return job_id
