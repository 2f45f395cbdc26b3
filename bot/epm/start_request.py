"""Starting an EPM job (SPEC §13): the request per server kind, sent once, and its answer.

- planning, fccs: ``POST {base}/HyperionPlanning/rest/v3/applications/{app}/jobs`` with
  ``{"jobType", "jobName", "parameters": {…}}``;
- data_integration: ``POST {base}/aif/rest/V1/jobs`` with ``{"jobType", "jobName", …}``
  (the parameters sit beside the name).

Any 2xx answer naming a ``jobId`` (a number, or a string of one as Data Integration
sends) is a start. A start is **never repeated**: a second POST would run the job a
second time (two data loads, two consolidations). So the session used here has no
urllib3 ``Retry``, follows no redirect, and every start gets a session and connection
of its own (a pooled connection the server has just closed fails *after* the request
left, which would make a harmless failure look like a lost answer). How a failure is
reported depends on whether the request can have reached EPM:

| what happened                                  | ``maybe_started`` |
|------------------------------------------------|-------------------|
| no token, DNS failure, connection refused,     | False             |
| connect timeout, TLS handshake failure         |                   |
| EPM answered 3xx/4xx, or 5xx other than 502/504| False             |
| read timeout, connection reset after sending,  | True              |
| 502/504 from a gateway, 2xx without a job id   |                   |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.util.retry import Retry

from bot.epm.auth import json_object
from bot.epm.mapping import trim
from bot.epm.session import ProxiedSession
from bot.epm.tracking import JOB_ID
from bot.errors import JobStartError
from bot.proxy import Proxies

# A gateway that answers 502 or 504 may have handed the request on already.
GATEWAY_STATUSES = frozenset({502, 504})
_NOT_SENT = (NewConnectionError, ConnectTimeoutError, NameResolutionError)
CHECK_EPM = "it may have started; check the EPM job console before running it again"


def build_start_session(proxies: Proxies | None = None) -> requests.Session:
    """A session that sends each request exactly once (no urllib3 Retry, no redirects),
    through the proxy ``proxies`` names for its URL."""
    session = ProxiedSession(proxies)
    # total=0: every error surfaces at once; read=False re-raises read errors as they are.
    adapter = HTTPAdapter(
        pool_connections=1,
        pool_maxsize=2,
        max_retries=Retry(total=0, read=False, redirect=False, raise_on_status=False),
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def start_request(
    kind: str,
    base_url: str,
    application: str | None,
    job_type: str,
    job_name: str,
    parameters: Mapping[str, Any],
) -> tuple[str, dict[str, Any]]:
    """The URL and JSON body that start ``job_name`` on a server of ``kind``."""
    base = base_url.rstrip("/")
    if kind in ("planning", "fccs"):
        app = quote(application or "", safe="")
        url = f"{base}/HyperionPlanning/rest/v3/applications/{app}/jobs"
        return url, {"jobType": job_type, "jobName": job_name, "parameters": dict(parameters)}
    if kind == "data_integration":
        return f"{base}/aif/rest/V1/jobs", {
            **dict(parameters),
            "jobType": job_type,
            "jobName": job_name,
        }
    raise ValueError(f"EPMPulse cannot start jobs on a server of kind {kind!r}")


def post_once(
    url: str,
    body: Mapping[str, Any],
    authorization: str,
    *,
    timeout: tuple[float, float],
    server: str,
    job_name: str,
    proxies: Proxies | None = None,
) -> requests.Response:
    """Send the start once on a new connection; translate network failures by whether EPM
    may have it. The answer's body is read before the connection closes."""
    headers = {
        "Authorization": authorization,
        "Accept": "application/json",
        "Connection": "close",
    }
    # A session of its own: a pooled connection the server has just closed would fail
    # *after* the request left, indistinguishable from a start whose answer was lost.
    with build_start_session(proxies) as session:
        try:
            return session.post(
                url, json=dict(body), headers=headers, timeout=timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            kind = exc.__class__.__name__
            if _not_sent(exc):
                raise JobStartError(
                    f"EPM {server} unreachable ({kind}); {job_name} was not started",
                    maybe_started=False,
                ) from exc
            raise JobStartError(
                f"EPM {server} did not answer the start of {job_name} ({kind}): {CHECK_EPM}",
                maybe_started=True,
            ) from exc


def started_job_id(server: str, job_name: str, response: requests.Response) -> str:
    """The job id of a successful start; JobStartError with EPM's own message otherwise."""
    code = response.status_code
    body = json_object(response)
    if 200 <= code < 300:
        job_id = _job_id(body.get("jobId"))
        if job_id is not None:
            return job_id
        detail = _detail(body)
        if detail and _as_int(body.get("status")) not in (None, -1, 0):
            # An answer with a failed status and no job: EPM refused the job itself.
            raise JobStartError(
                f"EPM {server} refused to start {job_name}: {detail}",
                maybe_started=False,
                status_code=code,
            )
        raise JobStartError(
            f"EPM {server} accepted the start of {job_name} (HTTP {code}) but named no "
            f"job id: {CHECK_EPM}",
            maybe_started=True,
            status_code=code,
        )
    detail = _detail(body) or response.reason or "no details"
    if code in GATEWAY_STATUSES:
        raise JobStartError(
            f"EPM {server} answered the start of {job_name} with HTTP {code} ({detail}): "
            f"{CHECK_EPM}",
            maybe_started=True,
            status_code=code,
        )
    verb = "refused to start" if code < 500 else "failed to start"
    raise JobStartError(
        f"EPM {server} {verb} {job_name} (HTTP {code}): {detail}",
        maybe_started=False,
        status_code=code,
    )


def _not_sent(exc: requests.RequestException) -> bool:
    """Whether the request surely never reached EPM (no connection was made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return True
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, _NOT_SENT):
            return True
        pending.extend([error.__cause__, error.__context__, getattr(error, "reason", None)])
        pending.extend(a for a in error.args if isinstance(a, BaseException))
    return False


def _detail(body: Mapping[str, Any]) -> str:
    for key in ("detail", "details", "message", "localizedMessage", "error"):
        text = body.get(key)
        if isinstance(text, str) and text.strip():
            return trim(text, 300)
    return ""


def _job_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    return text if JOB_ID.fullmatch(text) else None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None
