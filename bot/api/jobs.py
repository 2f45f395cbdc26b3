"""``POST /api/v1/jobs``: start a domain's EPM job (SPEC §13) from automation.

The same :class:`~bot.epm.launch.JobLauncher` as ``/epmpulse run``; the write key
authorises it and the request counts against the key's ``status`` limit. SPEC §7 has
no codes for EPM failures, so this route adds three:

| status | code            | meaning                                                       |
|--------|-----------------|---------------------------------------------------------------|
| 409    | `JOB_RUNNING`   | the domain still follows an unfinished job (or one is being    |
|        |                 | started): nothing was sent to EPM                              |
| 502    | `EPM_ERROR`     | EPM refused (4xx) or failed (5xx) the start, or could not be   |
|        |                 | reached; the message is EPM's own; nothing started or changed  |
| 504    | `EPM_NO_ANSWER` | the start was sent but its answer was lost (timeout, dropped   |
|        |                 | connection, gateway 502/504): it may have started; check EPM   |
|        |                 | before sending it again. The status is unchanged               |

A domain with no job answers 400 `INVALID_DOMAIN` naming the domains that have one.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bot.api.auth import caller_of
from bot.api.context import context_of
from bot.api.errors import ApiError, ErrorCode
from bot.api.keyed import KeyedRouter
from bot.api.schemas import Ok, failure
from bot.epm.launch import JobLauncher, JobNotRecordedError
from bot.errors import JobRunningError, JobStartError
from bot.estate import Estate


class JobStart(BaseModel):
    """Start the EPM job configured for one domain. Names are matched case-insensitively."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"app": "Planning", "domain": "Actuals"}]}
    )

    app: str = Field(min_length=1, max_length=100, description="A configured app, e.g. Planning.")
    domain: str = Field(
        min_length=1, max_length=100, description="A domain of that app with a job, e.g. Actuals."
    )


class StartedJob(BaseModel):
    """The job EPM started; the domain is Loading and follows it until it ends."""

    app: str
    domain: str
    server: str = Field(description="The configured EPM server that runs the job.")
    job_id: str = Field(description="EPM's job id, as its job console shows it.")


class JobStartedResponse(Ok[StartedJob]):
    """The started job (the domain's Loading status is durable when this answer is sent)."""


JobRunning = failure(
    "JobRunning",
    ("JOB_RUNNING",),
    "409: already running.",
    "The domain still follows an unfinished EPM job; nothing was sent to EPM.",
    error_name="JobRunningDetail",
)
EpmFailed = failure(
    "EpmFailed",
    ("EPM_ERROR",),
    "502: EPM did not start the job.",
    "EPM refused or failed the start, or was unreachable; nothing started or changed.",
    error_name="EpmErrorDetail",
)
EpmNoAnswer = failure(
    "EpmNoAnswer",
    ("EPM_NO_ANSWER",),
    "504: the job may have started.",
    "The start was sent but its answer was lost: the job may have started; check EPM.",
    error_name="EpmNoAnswerDetail",
)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"model": JobRunning, "description": "The domain still follows an unfinished job"},
    502: {"model": EpmFailed, "description": "EPM refused, failed or could not be reached"},
    504: {"model": EpmNoAnswer, "description": "No answer from EPM: the job may have started"},
}

router = KeyedRouter("jobs", _RESPONSES)


@router.write(
    "/jobs", "status", response_model=JobStartedResponse, summary="Start a domain's EPM job"
)
async def start_job(start: JobStart, request: Request) -> JobStartedResponse:
    """Start the configured job once; the domain becomes Loading and follows it."""
    context = context_of(request)
    launcher = context.launcher or JobLauncher(context.service, {}, estate=Estate())
    try:
        launched = await run_in_threadpool(
            launcher.run, start.app, start.domain, by=caller_of(request)
        )
    except JobRunningError as exc:
        raise ApiError(409, ErrorCode.JOB_RUNNING, str(exc)) from exc
    except JobStartError as exc:
        if exc.maybe_started:
            raise ApiError(504, ErrorCode.EPM_NO_ANSWER, str(exc)) from exc
        raise ApiError(502, ErrorCode.EPM_ERROR, str(exc)) from exc
    except JobNotRecordedError as exc:
        raise ApiError(503, ErrorCode.STORE_UNAVAILABLE, str(exc)) from exc
    return JobStartedResponse(data=StartedJob.model_validate(launched, from_attributes=True))
