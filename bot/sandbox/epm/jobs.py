"""Scripted EPM jobs and the per-kind JSON shapes of "Retrieve Job Status".

A job is a script of states; every served poll returns the current state and
advances the script, and the last state sticks. A state is an *outcome* that is
rendered the way each EPM service reports it:

| outcome        | planning / fccs                   | data_integration       | arcs |
|----------------|-----------------------------------|------------------------|------|
| running        | -1 Processing                     | "-1" RUNNING           | -1   |
| ok             | 0 Completed                       | "0" SUCCESS            | 0    |
| warning        | 0 Completed with warnings         | "0" WARNING            | 0    |
| error          | 1 Error                           | "1" FAILED             | 1    |
| cancel_pending | 2 Cancel Pending                  | "2" RUNNING            | -1   |
| cancelled      | 3 Cancelled                       | "3" FAILED             | 3    |
| invalid        | 4 Invalid Parameter               | "4" FAILED             | 4    |
| unknown        | 2147483647 Unknown                | "2147483647" RUNNING   | -1   |

ARCS answers Oracle's migration status codes (0 success, -1 in progress, any positive
code failed), so an outcome that is still running in Planning terms is -1 there and
every failure is a positive code. ARCS has no descriptive status, so its `warning`
differs from `ok` only in `details`. A test scripts any other ARCS code, e.g. 5, with
`JobState("error", details, {"status": 5})`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import unquote

Kind = Literal["planning", "fccs", "data_integration", "arcs"]
Outcome = Literal[
    "running", "ok", "warning", "error", "cancel_pending", "cancelled", "invalid", "unknown"
]

KINDS: tuple[str, ...] = get_args(Kind)
OUTCOMES: tuple[str, ...] = get_args(Outcome)
UNKNOWN_STATUS = 2147483647  # Java Integer.MAX_VALUE, as documented by Oracle

# Planning and FCCS share one endpoint, so a job is known by (family, app, job id).
JobKey = tuple[str, str | None, str]
_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("hyperion", re.compile(r"/HyperionPlanning/rest/v3/applications/([^/]+)/jobs/([^/]+)")),
    ("data_integration", re.compile(r"/aif/rest/V1/jobs/([^/]+)")),
    ("arcs", re.compile(r"/armARCS/rest/v1/jobs/([^/]+)")),
)

# Oracle's "Retrieve Job Status" (Planning and Data Integration) lists -1, 0, 1, 2, 3, 4
# and Integer.MAX_VALUE, and descriptiveStatus "such as Completed or Error":
# https://docs.oracle.com/en/cloud/saas/enterprise-performance-management-common/prest/retrieve_job_status.html
# Our reading (docs/oracle/undocumented.md): a warning is status 0 - with jobStatus
# WARNING on Data Integration, which documents that field's values but not the code
# beside WARNING - and the descriptive statuses other than Completed and Error are ours.
_CODES: dict[str, int] = {
    "running": -1,
    "ok": 0,
    "warning": 0,
    "error": 1,
    "cancel_pending": 2,
    "cancelled": 3,
    "invalid": 4,
    "unknown": UNKNOWN_STATUS,
}
# ARCS "Retrieve Job Status": "status: See Migration Status Codes" - 0 success, -1 in
# progress, +ve failed (Oracle, "Retrieve Job Status for Account Reconciliation" and
# "Migration Status Codes", docs.oracle.com/en/cloud/saas/
# enterprise-performance-management-common/prest/arcs_get_job_status.html and
# .../prest/lcm_status_codes.html). Which positive code a failure carries is not
# documented; our reading keeps Planning's 1, 3 and 4.
_ARCS_CODES: dict[str, int] = {
    **_CODES,
    "cancel_pending": -1,
    "unknown": -1,
}
_DESCRIPTIVE: dict[str, str] = {
    "running": "Processing",
    "ok": "Completed",
    "warning": "Completed with warnings",
    "error": "Error",
    "cancel_pending": "Cancel Pending",
    "cancelled": "Cancelled",
    "invalid": "Invalid Parameter",
    "unknown": "Unknown",
}
_DI_JOB_STATUS: dict[str, str] = {
    "running": "RUNNING",
    "ok": "SUCCESS",
    "warning": "WARNING",
    "error": "FAILED",
    "cancel_pending": "RUNNING",
    "cancelled": "FAILED",
    "invalid": "FAILED",
    "unknown": "RUNNING",
}
_DEFAULT_DETAILS: dict[str, str] = {
    "running": "In Process",
    "ok": "Job completed successfully",
    "warning": "Job completed with warnings",
    "error": "Job failed",
    "cancel_pending": "Cancel requested",
    "cancelled": "Job was cancelled",
    "invalid": "Invalid parameter",
    "unknown": "",
}
_DEFAULT_JOB_NAMES: dict[str, str] = {
    "planning": "Refresh Database",
    "fccs": "Consolidate",
    "data_integration": "DLR_Actuals",
    "arcs": "IMPORT_BALANCES",
}


@dataclass(frozen=True)
class JobState:
    """One step of a job script: an outcome, optional details and raw field overrides."""

    outcome: Outcome
    details: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}; expected one of {OUTCOMES}")


@dataclass
class ScriptedJob:
    """A job whose status follows a script; `polls` counts the polls served so far."""

    kind: Kind
    job_id: str
    app: str | None
    states: tuple[JobState, ...]
    job_name: str
    polls: int = 0

    def advance(self) -> JobState:
        """Return the current state and move the script on (the last state sticks)."""
        state = self.states[min(self.polls, len(self.states) - 1)]
        self.polls += 1
        return state


def script(outcome: Outcome, *, running: int = 0) -> list[Outcome]:
    """Return a script that is `running` for that many polls, then ends in `outcome`."""
    if running < 0:
        raise ValueError("running must be >= 0")
    steps: list[Outcome] = ["running"] * running
    return [*steps, outcome]


def make_job(
    kind: str,
    job_id: int | str,
    statuses: Sequence[Outcome | JobState] | Outcome,
    *,
    details: str | None,
    app: str | None,
    job_name: str | None,
) -> ScriptedJob:
    """Validate the arguments of `EpmSandbox.add_job` and build the scripted job."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    items: Sequence[Outcome | JobState] = [statuses] if isinstance(statuses, str) else statuses
    if not items:
        raise ValueError("a job script needs at least one status")
    states = tuple(_to_state(item, details) for item in items)
    return ScriptedJob(
        kind=kind,  # type: ignore[arg-type]  # checked against KINDS above
        job_id=str(job_id),
        app=app if kind in ("planning", "fccs") else None,
        states=states,
        job_name=job_name or _DEFAULT_JOB_NAMES[kind],
    )


def _to_state(item: Outcome | JobState, details: str | None) -> JobState:
    state = item if isinstance(item, JobState) else JobState(item)
    if state.details is None and details is not None and state.outcome != "running":
        state = JobState(state.outcome, details, state.extra)
    return state


def render(job: ScriptedJob, state: JobState, *, base_url: str, executed_by: str) -> dict[str, Any]:
    """Return the JSON body EPM sends for `job` in `state`."""
    details = state.details if state.details is not None else _DEFAULT_DETAILS[state.outcome]
    code = (_ARCS_CODES if job.kind == "arcs" else _CODES)[state.outcome]
    self_href = base_url + job_path(job.kind, job.job_id, job.app)
    body: dict[str, Any]
    if job.kind in ("planning", "fccs"):
        body = {
            "status": code,
            "details": details,
            "jobId": int(job.job_id) if job.job_id.isdigit() else job.job_id,
            "jobName": job.job_name,
            "descriptiveStatus": _DESCRIPTIVE[state.outcome],
            "links": [
                {"rel": "self", "href": self_href, "action": "GET"},
                {"rel": "job-details", "href": self_href + "/details", "action": "GET"},
            ],
        }
    elif job.kind == "data_integration":
        body = {
            "links": [{"rel": "self", "href": self_href, "action": "GET"}],
            "status": str(code),
            "details": details,
            "jobId": job.job_id,
            "jobStatus": _DI_JOB_STATUS[state.outcome],
            "logFileName": f"outbox/logs/{job.job_name}_{job.job_id}.log",
            "outputFileName": None,
            "processType": "COMM_LOAD_BALANCES",
            "executedBy": executed_by,
        }
    else:
        body = {
            "type": "ARCS",
            "status": code,
            "details": details,
            "links": [{"rel": "self", "href": self_href, "action": "GET"}],
            "error": None,
            "items": None,
            "link": None,
        }
    body.update(state.extra)
    return body


def job_path(kind: str, job_id: str, app: str | None) -> str:
    """Return the documented status path of a job of `kind`."""
    if kind in ("planning", "fccs"):
        return f"/HyperionPlanning/rest/v3/applications/{app}/jobs/{job_id}"
    if kind == "data_integration":
        return f"/aif/rest/V1/jobs/{job_id}"
    return f"/armARCS/rest/v1/jobs/{job_id}"


def job_key(kind: str, job_id: str, app: str | None) -> JobKey:
    """Return the key under which a job of `kind` is stored and looked up."""
    if kind in ("planning", "fccs"):
        return ("hyperion", app, job_id)
    return (kind, None, job_id)


def parse_job_path(path: str) -> JobKey | None:
    """Return the job key addressed by a status URL path, or None for other paths."""
    for family, pattern in _ROUTES:
        match = pattern.fullmatch(path)
        if match:
            parts = [unquote(part) for part in match.groups()]
            return (family, parts[0], parts[1]) if len(parts) == 2 else (family, None, parts[0])
    return None
