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
                refusal = self._refusals.get(name)
            if refusal is not None:
                self._records.append(StartRecord(family, app, body, refusal.status, None))
                return refusal.status, _error(refusal.status, refusal.detail), None
            job_id = str(self._next_id)
            self._next_id += 1
            scripted = self._scripts.get(str(name))
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


def _error(status: int, message: str) -> dict[str, Any]:
    return {"detail": message, "status": status, "message": message, "localizedMessage": message}
