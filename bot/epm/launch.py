"""Launching a domain's EPM job (SPEC §13) as a plain service call: check, start once, track.

:meth:`JobLauncher.run` is what ``/epmpulse run``, App Home's *Run* button and
``POST /api/v1/jobs`` call. Steps:

1. refuse without calling EPM: a domain with no job configured (:class:`NoJobError`,
   naming the domains that have one), a domain that still tracks an unfinished job
   or whose job another caller is starting right now (:class:`JobRunningError`);
2. reserve the start durably (store meta ``jobs.starting``), so two clicks, also on
   two instances sharing a database, never send two starts;
3. send the start once (:meth:`EpmClient.start_job`); on :class:`JobStartError` the
   reservation is released (kept while the job may have started) and the status stays
   as it was;
4. one commit: the domain becomes Loading, ``Started <name> (job <id>)``, by the
   caller, tracking the job, which the poller resolves like any tracked job.

Once EPM has answered with a job id the reservation is kept until that job is tracked
(SPEC §15): when the commit of step 4 fails, the job id is written into the reservation
if the store allows, so a second click is refused naming the job, and
``/epmpulse track APP DOMAIN JOB_ID`` (or any change tracking it) ends the reservation.
Reservation times come from :meth:`Store.now`, one clock for every instance.

The editor check belongs to the caller (Slack knows editors, the REST API keys).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.close.periods import expand_period_tokens, period_at
from bot.errors import JobRunningError, JobStartError, NoJobError, StoreError
from bot.estate import Estate, JobParameter, JobSpec
from bot.layout import Layout
from bot.model import JobRef, RecordKey, Status, format_time, parse_time
from bot.service import JOB_STARTS_META, Change, StatusService
from bot.store import WorkingState

logger = logging.getLogger(__name__)

STARTING_META = JOB_STARTS_META
# A reservation older than this without a job id is from a start that died (a crash
# mid-request, or a lost answer); one naming its job waits for that job to be tracked.
RESERVATION_SECONDS = 600.0


class JobStarter(Protocol):
    """What the launcher needs of an EPM client (:class:`~bot.epm.client.EpmClient`)."""

    def start_job(self, job_type: str, job_name: str, parameters: Mapping[str, Any]) -> str:
        """Start a job once and return its id; raise JobStartError otherwise."""


@dataclass(frozen=True)
class Launched:
    """A started job and the change that made its domain Loading."""

    app: str
    domain: str
    server: str
    job_id: str
    job_name: str
    change: Change


class JobNotRecordedError(StoreError):
    """EPM started the job but the store could not record it; the message says how to track it."""


def job_period(layout: Layout, at: datetime) -> str:
    """The close period (``YYYY-MM``) that ``$PERIOD`` stands for at ``at``.

    The month before the local month of ``at`` in the close calendar's timezone (the
    canvas timezone when no ``close:`` section sets one).
    """
    return period_at(at, ZoneInfo(layout.close_timezone()))


def job_parameters(spec: JobSpec, period: str) -> dict[str, JobParameter]:
    """``spec``'s parameters with the period tokens in text values filled in (SPEC §16).

    ``$PERIOD`` becomes EPM's name of ``period`` (``Oct-26``) and ``${PERIOD:FORMAT}`` its
    month in strftime codes (``${PERIOD:%b}`` is ``Oct``); the configuration check has
    already refused any other format.
    """
    return {
        key: expand_period_tokens(value, period) if isinstance(value, str) else value
        for key, value in spec.parameters.items()
    }


def job_domains(estate: Estate) -> list[tuple[str, str]]:
    """Every ``(app, domain)`` that has a job, in configuration order."""
    return [
        (app, domain)
        for app, cfg in estate.apps.items()
        for domain in cfg.domains
        if domain in cfg.jobs
    ]


class JobLauncher:
    """Starts the jobs of ``estate`` and hands them to the poller by tracking them."""

    def __init__(
        self,
        service: StatusService,
        clients: Mapping[str, JobStarter],
        *,
        estate: Estate,
        reservation_seconds: float = RESERVATION_SECONDS,
    ) -> None:
        self.service = service
        self.clients = clients
        self.estate = estate
        self._reservation = timedelta(seconds=reservation_seconds)

    def job_of(self, app: str, domain: str) -> tuple[RecordKey, JobSpec]:
        """The canonical key and job of a domain; NoJobError when it has none."""
        key = self.service.layout.resolve_domain(app, domain)
        configured = self.estate.apps.get(key[0])
        spec = configured.jobs.get(key[1]) if configured is not None else None
        if spec is None:
            raise NoJobError(_no_job_message(self.estate, key))
        return key, spec

    def run(self, app: str, domain: str, *, by: str) -> Launched:
        """Start the job of ``APP DOMAIN`` once and track it; returns once durable.

        Raises ValidationError (unknown names, :class:`NoJobError`,
        :class:`JobRunningError`), JobStartError (EPM did not start it, or may have)
        or StoreError (:class:`JobNotRecordedError` once the job has started).
        """
        key, spec = self.job_of(app, domain)
        server = self.service.layout.apps[key[0]].server
        client = self.clients.get(server or "")
        if server is None or client is None:
            raise JobStartError(
                f"EPM server '{server}' is not available in this process; {spec.name} was "
                "not started",
                maybe_started=False,
            )
        # The store's clock, not this host's: instances on several hosts compare these times.
        reserved_at = self.service.store.now()
        held = self.service.transact(lambda work, _at: self._reserve(work, reserved_at, key, by))
        try:
            parameters = job_parameters(spec, job_period(self.service.layout, self.service.now()))
            job_id = client.start_job(spec.type, spec.name, parameters)
        except JobStartError as exc:
            # A start that may have gone through keeps its reservation until it expires, so
            # a second click cannot send a second start while people check EPM.
            if not exc.maybe_started:
                self._release(key, held)
            raise
        except BaseException:
            self._release(key, held)
            raise
        job = JobRef(server=server, job_id=job_id)
        message = f"Started {spec.name} (job {job_id})"
        try:
            change = self.service.transact(
                lambda work, at: self._track(work, at, key, job, message, by)
            )
        except StoreError as exc:
            logger.error("EPM %s: started job %s for %s but could not save it", server, job_id, key)
            # The reservation stays: without it a second click would start a second job.
            self._name_job(key, held, job)
            raise JobNotRecordedError(
                f"EPM started {spec.name} as job {job_id}, but EPMPulse could not save it; "
                f"follow it with `/epmpulse track {key[0]} {key[1]} {job_id}` once the store "
                "works again."
            ) from exc
        logger.info("%s / %s: %s on %s by %s", key[0], key[1], message, server, by)
        return Launched(key[0], key[1], server, job_id, spec.name, change)

    # --- the commits ------------------------------------------------------------------

    def _reserve(
        self, work: WorkingState, now: datetime, key: RecordKey, by: str
    ) -> tuple[dict[str, str], list[Change]]:
        record = self.service.current(work, key)
        if record.jobs:
            running = ", ".join(j.job_id for j in record.jobs)
            raise JobRunningError(
                f"{key[0]} / {key[1]} is already running: job {running} "
                f"({record.status.value}). Run it again once that job has ended, or set the "
                "status by hand to stop following it."
            )
        starting = _starting(work)
        held = starting.get(_name(key))
        if isinstance(held, dict) and held.get("job"):
            raise JobRunningError(
                f"{key[0]} / {key[1]} is already running: EPM started job {held['job']} "
                f"({held.get('by')}, {held.get('at')}), but EPMPulse could not save it. Follow "
                f"it with `/epmpulse track {key[0]} {key[1]} {held['job']}`; EPMPulse then sets "
                "the result when it ends."
            )
        if held is not None and not self._expired(held, now):
            raise JobRunningError(
                f"{key[0]} / {key[1]} is already running: {held.get('by')} started its job "
                f"at {held.get('at')} and EPM has not answered (or its answer was lost). "
                "Check the EPM job console; if the job runs, follow it with "
                f"`/epmpulse track {key[0]} {key[1]} JOB_ID`. A new start is possible "
                f"{int(self._reservation.total_seconds() // 60)} minutes after that one."
            )
        mine = {"by": by, "at": format_time(now)}
        work.put_meta(STARTING_META, {**starting, _name(key): mine})
        return mine, []

    def _track(
        self,
        work: WorkingState,
        now: datetime,
        key: RecordKey,
        job: JobRef,
        message: str,
        by: str,
    ) -> tuple[Change, list[Change]]:
        _drop_reservation(work, key)
        jobs = self.service.current(work, key).jobs
        change = self.service.record_change(
            work, key, Status.LOADING, message, by, now, jobs=[*jobs, job]
        )
        return change, [change]

    def _release(self, key: RecordKey, held: Mapping[str, str]) -> None:
        def release(work: WorkingState, _now: datetime) -> tuple[None, list[Change]]:
            if _starting(work).get(_name(key)) == held:  # not one that replaced an expired one
                _drop_reservation(work, key)
            return None, []

        try:
            self.service.transact(release)
        except StoreError:
            # The reservation then expires by itself after RESERVATION_SECONDS.
            logger.warning("could not release the job start reservation of %s / %s", *key)

    def _name_job(self, key: RecordKey, held: Mapping[str, str], job: JobRef) -> None:
        """Best effort: write the started job into this start's reservation.

        Only while the reservation is still this start's own: one a change has ended
        (the job is tracked) stays ended.
        """

        def name(work: WorkingState, _now: datetime) -> tuple[None, list[Change]]:
            starting = _starting(work)
            if starting.get(_name(key)) == held:
                entry = {**held, "server": job.server, "job": job.job_id}
                work.put_meta(STARTING_META, {**starting, _name(key): entry})
            return None, []

        try:
            self.service.transact(name)
        except StoreError:
            # The reservation stays as it was and expires after RESERVATION_SECONDS.
            logger.warning("could not note job %s in the reservation of %s / %s", job.job_id, *key)

    def _expired(self, held: Mapping[str, Any], now: datetime) -> bool:
        try:
            at = parse_time(held.get("at"))
        except ValueError:
            return True
        return now - at > self._reservation


def _name(key: RecordKey) -> str:
    return f"{key[0]}/{key[1]}"


def _starting(work: WorkingState) -> dict[str, Any]:
    value = work.meta.get(STARTING_META)
    return dict(value) if isinstance(value, dict) else {}


def _drop_reservation(work: WorkingState, key: RecordKey) -> None:
    starting = _starting(work)
    if starting.pop(_name(key), None) is not None:
        work.put_meta(STARTING_META, starting)


def _no_job_message(estate: Estate, key: RecordKey) -> str:
    mine = [d for a, d in job_domains(estate) if a == key[0]]
    if mine:
        names = ", ".join(mine)
        return f"{key[0]} / {key[1]} has no EPM job to run. Domains of {key[0]} with one: {names}."
    others = ", ".join(f"{a} / {d}" for a, d in job_domains(estate)) or "none are configured"
    return f"{key[0]} / {key[1]} has no EPM job to run. Domains with one: {others}."
