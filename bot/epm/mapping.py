"""How an EPM "Retrieve Job Status" answer maps onto a domain status (SPEC §6, §16).

Planning, FCCS and Data Integration:

| ``status``            | result                                                  |
|-----------------------|---------------------------------------------------------|
| -1, 2, 2147483647     | still running (in progress, cancel pending, unknown)    |
| 0                     | OK, or Warning when descriptiveStatus/jobStatus says so |
| 1, 4                  | Error (error, invalid parameter)                        |
| 3                     | Warning (cancelled)                                     |

Data Integration may send the numbers as strings and adds ``jobStatus``
(RUNNING / SUCCESS / FAILED / WARNING), which decides only when ``status`` is
missing. Any other number is treated like "unknown": keep polling.

ARCS follows Oracle's migration status codes instead: 0 OK, -1 still running,
any positive code Error (see :func:`_migration_result` and
``docs/oracle/arcs-job-status.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.errors import EpmError
from bot.model import MESSAGE_LIMIT, Status

logger = logging.getLogger(__name__)

RUNNING_CODES = frozenset({-1, 2, 2147483647})
_FINISHED: dict[int, Status] = {0: Status.OK, 1: Status.ERROR, 3: Status.WARNING, 4: Status.ERROR}
_JOB_STATUS: dict[str, Status | None] = {
    "RUNNING": None,
    "SUCCESS": Status.OK,
    "WARNING": Status.WARNING,
    "FAILED": Status.ERROR,
}


@dataclass(frozen=True)
class JobResult:
    """One job's state: ``status`` is None while the job is still running."""

    status: Status | None
    message: str
    code: int | None = None

    @property
    def finished(self) -> bool:
        """Whether the job has ended (successfully or not)."""
        return self.status is not None


def parse_job(body: Any, kind: str = "planning") -> JobResult:
    """Map a job-status JSON body from a server of ``kind`` to a :class:`JobResult`.

    Raises a permanent :class:`EpmError` when the body carries no usable status.
    """
    if not isinstance(body, Mapping):
        raise EpmError("EPM answered with a JSON value that is not an object", permanent=True)
    message = _message(body)
    code = _as_int(body.get("status"))
    job_status = str(body.get("jobStatus") or "").strip().upper()
    if code is None:
        if job_status not in _JOB_STATUS:
            raise EpmError(
                f"EPM answered without a usable job status (status={body.get('status')!r})",
                permanent=True,
            )
        return JobResult(_JOB_STATUS[job_status], message)
    if kind == "arcs":  # Oracle: migration status codes, see docs/oracle/arcs-job-status.md
        return _migration_result(code, message)
    if code == 0:
        says = f"{body.get('descriptiveStatus') or ''} {job_status}".lower()
        return JobResult(Status.WARNING if "warning" in says else Status.OK, message, code)
    if code in _FINISHED:
        return JobResult(_FINISHED[code], message, code)
    if code not in RUNNING_CODES:
        logger.warning("EPM job status code %d is not documented; polling on", code)
    return JobResult(None, message, code)


def _migration_result(code: int, message: str) -> JobResult:
    """Map an ARCS ``status``: Oracle's migration status codes, not Planning's (SPEC §16).

    Oracle's "Retrieve Job Status for Account Reconciliation" says of ``status``
    "See Migration Status Codes", and "Migration Status Codes" reads 0 success,
    -1 in progress, +ve failed
    (docs.oracle.com/en/cloud/saas/enterprise-performance-management-common/prest/
    arcs_get_job_status.html and .../prest/lcm_status_codes.html). So 2, 3 or 5 is a
    failure here, never "cancel pending" or "cancelled". Negative codes other than -1
    are undocumented; our reading is to keep polling and let the stale rule decide.
    """
    if code == 0:
        return JobResult(Status.OK, message, code)
    if code > 0:
        return JobResult(Status.ERROR, message or f"ARCS job failed with status {code}", code)
    if code != -1:
        logger.warning("ARCS job status code %d is not documented; polling on", code)
    return JobResult(None, message, code)


def trim(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Collapse whitespace and cut ``text`` to ``limit`` characters (with an ellipsis)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _message(body: Mapping[str, Any]) -> str:
    details = body.get("details")
    text = details if isinstance(details, str) and details.strip() else ""
    if not text:
        text = str(body.get("descriptiveStatus") or body.get("jobStatus") or "")
    return trim(text)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None
