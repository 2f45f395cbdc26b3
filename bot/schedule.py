"""The scheduler jobs of the parts: repeating, never overlapping, removable at any time."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler


def every(
    scheduler: BaseScheduler,
    seconds: float,
    func: Callable[[], Any],
    job_id: str,
    *,
    first_now: bool = True,
) -> None:
    """Run ``func`` every ``seconds`` (first at once unless ``first_now`` is False).

    One run at a time, missed runs collapse into one, and adding it again replaces it.
    """
    # APScheduler reads next_run_time=None as "paused": leave it out for the default.
    first = {"next_run_time": datetime.now(UTC)} if first_now else {}
    scheduler.add_job(
        func,
        "interval",
        seconds=seconds,
        id=job_id,
        max_instances=1,
        coalesce=True,
        replace_existing=True,
        **first,
    )


def cancel(scheduler: BaseScheduler, *job_ids: str) -> None:
    """Remove these jobs; one never added, or already removed, is no error."""
    for job_id in job_ids:
        with contextlib.suppress(JobLookupError):
            scheduler.remove_job(job_id)
