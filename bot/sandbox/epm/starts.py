"""Job starts in the EPM sandbox: ``POST`` on the jobs collections of both families.

- ``POST /HyperionPlanning/rest/v3/applications/{app}/jobs`` (planning, fccs) takes
  ``{"jobType", "jobName", "parameters"}`` and answers 201 with the new job (``jobId`` a
  number, ``status`` -1);
- ``POST /aif/rest/V1/jobs`` (data_integration) takes ``{"jobType", "jobName", …}``
  and answers 200 with numbers as strings (``"jobId": "1001"``, ``"status": "-1"``).

Every start is recorded with its body. A started job is then polled like any job
added with ``add_job``, following the script set for its name (``script_start``;
by default one running poll, then ``ok``). ``refuse_start`` makes starts of a name
answer an error status with EPM's error body instead, starting nothing.

Starts EPM refuses are refused (docs/oracle/job-starts.md): on the Planning jobs
collection a ``jobType`` that is not one of Oracle's documented values, exactly as
spelled; on the Data Integration one a ``periodName``, ``startPeriod`` or
``endPeriod`` outside braces (Oracle passes ``"periodName": "{Mar-20}"``).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from bot.sandbox.epm.jobs import JobState, Outcome, ScriptedJob, make_job, script

FIRST_JOB_ID = 1001
_HYPERION_JOBS = re.compile(r"/HyperionPlanning/rest/v3/applications/([^/]+)/jobs")
_DI_JOBS = "/aif/rest/V1/jobs"
# The jobType values Oracle documents for the Planning jobs collection, as its job pages
# spell them ("Manage Jobs" lists the pages; "Execute a Job": values are case sensitive):
# https://docs.oracle.com/en/cloud/saas/enterprise-performance-management-common/prest/manage_jobs.html
# The same list as bot.config.PLANNING_JOB_TYPES, kept here so that the sandbox stands in for
# EPM on its own; tests/sandbox/test_epm_sandbox.py keeps the two equal.
JOB_TYPES = frozenset(
    {
        *("Rules", "RULES", "Ruleset", "RULESET", "Plan Type Map", "PLAN_TYPE_MAP"),
        *("Import Data", "IMPORT_DATA", "Export Data", "EXPORT_DATA"),
        *("Import Metadata", "IMPORT_METADATA", "Export Metadata", "EXPORT_METADATA"),
        *("Cube Refresh", "CUBE_REFRESH", "Clear Cube", "CLEAR_CUBE"),
        *("Administration Mode", "Compact Cube", "Restructure Cube", "Merge Data Slices"),
        *("Optimize Aggregation", "Export Security", "Export Audit", "Export Job Console"),
        *("Sort Members", "Import Exchange Rates", "IMPORT_EXCHANGE_RATES", "Auto Predict"),
        *("Execute Bursting Definition", "EXECUTE_MR_BURST"),
        *("Import Document to Library", "IMPORT_DOCUMENT_TO_LIBRARY"),
        *("IMPORT_JOURNAL", "EXPORT_JOURNAL", "COPY_DATA", "Copy_Data", "Clear_Data"),
    }
)
# Data Integration takes period names in braces, one or more: {Oct-26} or {Jan-26}{Mar-26}.
# Oracle's "Running Integrations" sends "periodName":"{Mar-20}":
# https://docs.oracle.com/en/cloud/saas/epm-cloud/prest/fdmee_integration_jobtype_106x0fea7396.html
# startPeriod/endPeriod in braces is SPEC §16's rule, our reading (docs/oracle/job-starts.md).
_PERIOD_KEYS = ("periodName", "startPeriod", "endPeriod")
_BRACED = re.compile(r"(\{[^{}]+\})+")
# Our reading: Oracle documents no HTTP status for either refusal; 400 is what the sandbox
# answers any other malformed start with, and the wording of the details is ours too.
INVALID_START_STATUS = 400


@dataclass(frozen=True)
class StartRecord:
    """One start request that reached the sandbox: where, its JSON body and what came of it.

    ``job_id`` is None when the start was refused (``status`` then says how).
    """

    family: str  # "hyperion" or "data_integration"
    app: str | None
    body: Any
    status: int
    job_id: str | None


@dataclass(frozen=True)
class _Refusal:
    status: int
    detail: str


@dataclass(frozen=True)
class _Script:
    states: tuple[Outcome | JobState, ...]
    details: str | None


def parse_start_path(path: str) -> tuple[str, str | None] | None:
    """``(family, app)`` of a jobs-collection path, or None for other paths."""
    match = _HYPERION_JOBS.fullmatch(path)
    if match:
        return "hyperion", unquote(match.group(1))
    if path == _DI_JOBS:
        return "data_integration", None
    return None


class Starts:
    """Thread-safe start scripts, refusals, the job id counter and the start log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_id = FIRST_JOB_ID
        self._scripts: dict[str, _Script] = {}
        self._refusals: dict[str, _Refusal] = {}
        self._records: list[StartRecord] = []

    def script(
        self, job_name: str, states: tuple[Outcome | JobState, ...], details: str | None
    ) -> None:
        """Jobs started under ``job_name`` from now on follow ``states``."""
        with self._lock:
            self._scripts[job_name] = _Script(states, details)
            self._refusals.pop(job_name, None)

    def refuse(self, job_name: str, status: int, detail: str) -> None:
        """Starts of ``job_name`` answer ``status`` with ``detail`` from now on."""
        with self._lock:
            self._refusals[job_name] = _Refusal(status, detail)

    def records(self) -> list[StartRecord]:
        """Every start that reached the sandbox, oldest first."""
        with self._lock:
            return list(self._records)

    def start(
        self, family: str, app: str | None, body: Any
    ) -> tuple[int, dict[str, Any], ScriptedJob | None]:
        """Serve one start: ``(status, answer body, the scripted job or None)``."""
        name = body.get("jobName") if isinstance(body, dict) else None
        job_type = body.get("jobType") if isinstance(body, dict) else None
        with self._lock:
            if not isinstance(name, str) or not name or not isinstance(job_type, str):
                refusal: _Refusal | None = _Refusal(400, "jobType and jobName are required.")
            else:
                refusal = _invalid_start(family, job_type, body) or self._refusals.get(name)
            if refusal is not None:
                self._records.append(StartRecord(family, app, body, refusal.status, None))
                return refusal.status, _error(refusal.status, refusal.detail), None
            job_id = str(self._next_id)
            self._next_id += 1
            scripted = self._scripts.get(str(name))
            # Our reading (docs/oracle/undocumented.md): "Execute a Job" shows the body of
            # a started job (status -1) but not the HTTP code; the sandbox answers 201 on
            # the Planning collection and 200 on Data Integration's, and the client takes
            # any 2xx.
            status = 201 if family == "hyperion" else 200
            self._records.append(StartRecord(family, app, body, status, job_id))
        states = scripted.states if scripted else tuple(script("ok", running=1))
        kind = "planning" if family == "hyperion" else "data_integration"
        job = make_job(
            kind,
            job_id,
            list(states),
            details=scripted.details if scripted else None,
            app=app,
            job_name=str(name),
        )
        if family == "hyperion":
            answer: dict[str, Any] = {
                "jobId": int(job_id),
                "jobName": name,
                "status": -1,
                "descriptiveStatus": "Processing",
                "details": None,
            }
        else:
            answer = {
                "jobId": job_id,
                "jobName": name,
                "jobType": job_type,
                "status": "-1",
                "jobStatus": "RUNNING",
                "details": None,
            }
        return status, answer, job


def _invalid_start(family: str, job_type: str, body: dict[str, Any]) -> _Refusal | None:
    """The refusal EPM gives a start it cannot take, or None when it takes it."""
    if family == "hyperion" and job_type not in JOB_TYPES:
        return _Refusal(INVALID_START_STATUS, f"Invalid job type: {job_type}.")
    if family == "data_integration":
        for key in _PERIOD_KEYS:
            value = body.get(key)
            if value is not None and not _BRACED.fullmatch(str(value).strip()):
                return _Refusal(
                    INVALID_START_STATUS,
                    f"Invalid {key} {value}: enclose period names in braces, e.g. {{Oct-26}}.",
                )
    return None


def _error(status: int, message: str) -> dict[str, Any]:
    return {"detail": message, "status": status, "message": message, "localizedMessage": message}
