"""One small HTTP client per EPM server: job status, a reachability probe, one error type.

Every request goes through a ``requests.Session`` with urllib3 :class:`Retry`
mounted: connection errors, 429 and 5xx are retried a bounded number of times
with exponential back-off, honouring ``Retry-After`` (capped). Every request has
explicit (connect, read) timeouts. A 401 makes the authenticator fetch a new
token once and the request is retried once. Every failure surfaces as
:class:`~bot.errors.EpmError`, whose ``permanent`` says whether retrying can help.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from bot.epm.auth import Authenticator, Clock, make_authenticator
from bot.epm.mapping import JobResult, parse_job, trim
from bot.epm.session import ProxiedSession
from bot.epm.start_request import post_once, start_request, started_job_id
from bot.epm.tokens import RefreshTokenFile, RefreshTokenStorage
from bot.errors import EpmError, JobStartError
from bot.estate import EpmServer
from bot.metrics import Metrics
from bot.proxy import Proxies

logger = logging.getLogger(__name__)

RETRIES = 3
READ_RETRIES = 1  # a server that timed out once is likely slow, not flaky
BACKOFF_FACTOR = 0.5
BACKOFF_MAX = 8.0
MAX_RETRY_AFTER = 15.0  # never sleep longer than this for one Retry-After
CONNECT_TIMEOUT = 5.0
RETRY_STATUSES = (429, 500, 502, 503, 504)
# A rotated refresh token may already be spent when a 500 comes back, so token
# requests are retried only when the server surely did not process them.
TOKEN_RETRY_STATUSES = (429, 502, 503, 504)
# Harmless GETs for ``epmpulse check``: the REST API version listings.
PROBE_PATHS = {
    "planning": "/HyperionPlanning/rest/",
    "fccs": "/HyperionPlanning/rest/",
    "data_integration": "/aif/rest/",
    "arcs": "/armARCS/rest/",
}
# Oracle's "Get Applications" (REST API for EPM Cloud, get_applications.html).
APPLICATIONS_PATH = "/HyperionPlanning/rest/v3/applications"


class CappedRetry(Retry):
    """urllib3 Retry that waits at most :data:`MAX_RETRY_AFTER` s for a ``Retry-After``."""

    def parse_retry_after(self, retry_after: str) -> float:
        """The server's wait, capped so that one poll stays bounded."""
        return min(super().parse_retry_after(retry_after), MAX_RETRY_AFTER)


def build_session(
    token_url: str | None = None,
    *,
    pool_size: int = 8,
    backoff_factor: float = BACKOFF_FACTOR,
    proxies: Proxies | None = None,
) -> requests.Session:
    """A session retrying idempotent GETs (and, carefully, token POSTs) with back-off,
    through the proxy ``proxies`` names for each URL."""
    session = ProxiedSession(proxies)
    retry = CappedRetry(
        total=RETRIES,
        read=READ_RETRIES,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=backoff_factor,
        backoff_max=BACKOFF_MAX,
        backoff_jitter=0.25,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if token_url:
        token_retry = CappedRetry(
            total=RETRIES,
            read=0,  # the request reached the server: a retry could spend a rotated token
            status_forcelist=TOKEN_RETRY_STATUSES,
            allowed_methods=frozenset({"POST"}),
            backoff_factor=backoff_factor,
            backoff_max=BACKOFF_MAX,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        session.mount(token_url, HTTPAdapter(pool_maxsize=2, max_retries=token_retry))
    return session


class EpmClient:
    """Talks to one configured EPM server."""

    def __init__(
        self,
        name: str,
        server: EpmServer,
        *,
        data_dir: Path,
        pool_size: int = 8,
        metrics: Metrics | None = None,
        clock: Clock = time.monotonic,
        backoff_factor: float = BACKOFF_FACTOR,
        token_file: RefreshTokenStorage | None = None,
        proxies: Proxies | None = None,
    ) -> None:
        self.name = name
        self.proxies = proxies
        self.server = server
        self.base_url = server.base_url.rstrip("/")
        self.timeout = (min(CONNECT_TIMEOUT, server.timeout_seconds), server.timeout_seconds)
        token_url = getattr(server.auth, "token_url", None)
        self.session = build_session(
            token_url, pool_size=pool_size, backoff_factor=backoff_factor, proxies=proxies
        )
        self.auth: Authenticator = make_authenticator(
            name,
            server.auth,
            self.session,
            timeout=self.timeout,
            token_file=token_file if token_file is not None else RefreshTokenFile(data_dir, name),
            clock=clock,
        )
        self._metrics = metrics

    def __repr__(self) -> str:
        return f"EpmClient({self.name!r}, kind={self.server.kind!r}, auth={self.auth!r})"

    def job_url(self, job_id: str) -> str:
        """The documented status URL of a job on this server (SPEC §6)."""
        job = quote(job_id, safe="")
        kind = self.server.kind
        if kind in ("planning", "fccs"):
            app = quote(self.server.application or "", safe="")
            return f"{self.base_url}/HyperionPlanning/rest/v3/applications/{app}/jobs/{job}"
        if kind == "data_integration":
            return f"{self.base_url}/aif/rest/V1/jobs/{job}"
        return f"{self.base_url}/armARCS/rest/v1/jobs/{job}"

    def job_status(self, job_id: str) -> JobResult:
        """Fetch and map one job's status; raises EpmError (permanent or not)."""
        started = time.monotonic()
        try:
            body = self._get_json(self.job_url(job_id), f"job {job_id}")
            return parse_job(body, self.server.kind)
        except EpmError as exc:
            if self._metrics is not None:
                self._metrics.epm_errors.labels(
                    server=self.name, permanent=str(exc.permanent).lower()
                ).inc()
            raise
        finally:
            if self._metrics is not None:
                self._metrics.epm_poll_seconds.labels(server=self.name).observe(
                    time.monotonic() - started
                )

    def _get_json(self, url: str, what: str) -> Any:
        """GET ``url`` and return its JSON body; EpmError for a non-200 or a non-JSON answer."""
        response = self._get(url)
        if response.status_code != 200:
            raise self._failure(what, response)
        try:
            return response.json()
        except ValueError as exc:
            raise EpmError(f"EPM {self.name}: {what} answer is not JSON", permanent=False) from exc

    def start_job(self, job_type: str, job_name: str, parameters: Mapping[str, Any]) -> str:
        """Start a job on this server once and return its job id (SPEC §13).

        Raises JobStartError: ``maybe_started`` tells a lost answer (the job may be
        running) from a start EPM refused or that never reached it.
        """
        url, body = start_request(
            self.server.kind,
            self.base_url,
            self.server.application,
            job_type,
            job_name,
            parameters,
        )
        used = self._start_header(job_name)
        response = self._post_start(url, body, used, job_name)
        if response.status_code == 401 and self.auth.after_401(used):
            # Safe to send again: EPM's identity layer checks the bearer token before the
            # request reaches the service, so a 401 means the body was never accepted and
            # no job was started. Only OAuth says yes here (Basic credentials stay refused),
            # and only once.
            response.close()
            response = self._post_start(url, body, self._start_header(job_name), job_name)
        try:
            job_id = started_job_id(self.name, job_name, response)
        finally:
            response.close()
        logger.info("EPM %s: started %s %r as job %s", self.name, job_type, job_name, job_id)
        return job_id

    def probe(self) -> str:
        """Authenticate and make one harmless GET; return what was checked.

        The version listing answers 200 on EPM Cloud; a 404 also proves that the
        server is reachable and accepted the credentials (it is sent after them).
        """
        started = time.monotonic()
        path = PROBE_PATHS[self.server.kind]
        response = self._get(self.base_url + path)
        if response.status_code not in (200, 404):
            raise self._failure(f"GET {path}", response)
        elapsed = time.monotonic() - started
        code = response.status_code
        return f"{self.auth.mode} auth accepted; GET {path} -> {code} in {elapsed:.2f}s"

    def application_names(self) -> list[str]:
        """The names of the applications this user is assigned to (planning/fccs servers).

        Raises EpmError; a 404 (``status_code``) means the base URL is wrong.
        """
        body = self._get_json(self.base_url + APPLICATIONS_PATH, f"GET {APPLICATIONS_PATH}")
        # Oracle's table spells the list "Items"; its Planning answers use "items".
        items = body.get("items", body.get("Items")) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise EpmError(
                f"EPM {self.name}: GET {APPLICATIONS_PATH} answer has no items list",
                permanent=True,
            )
        return [str(item["name"]) for item in items if isinstance(item, dict) and "name" in item]

    def refresh_token_if_due(self, horizon: float) -> bool:
        """Renew the access token ahead of time when it goes stale within ``horizon`` s."""
        return self.auth.refresh_if_due(horizon)

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    def _get(self, url: str) -> requests.Response:
        used = self.auth.header()
        response = self._send(url, used)
        if response.status_code == 401 and self.auth.after_401(used):
            response.close()
            response = self._send(url, self.auth.header())
        return response

    def _failure(self, what: str, response: requests.Response) -> EpmError:
        failure = _failure(self.name, what, response)
        if response.status_code == 401 and self.auth.mode == "oauth_client_credentials":
            # Even a fresh token was refused. EPM grants access by the user's roles, and
            # a client-credentials token carries no user (docs/oracle/oauth.md).
            return EpmError(
                f"{failure}; a client-credentials token carries no user: use auth type "
                f"oauth_device and sign in with `epmpulse epm login {self.name}`",
                permanent=True,
                status_code=401,
            )
        return failure

    def _send(self, url: str, authorization: str) -> requests.Response:
        headers = {"Authorization": authorization, "Accept": "application/json"}
        try:
            return self.session.get(url, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise EpmError(
                f"EPM {self.name} unreachable: {exc.__class__.__name__}", permanent=False
            ) from exc

    def _start_header(self, job_name: str) -> str:
        try:
            return self.auth.header()
        except EpmError as exc:
            raise JobStartError(f"{exc}; {job_name} was not started", maybe_started=False) from exc

    def _post_start(
        self, url: str, body: dict[str, Any], authorization: str, job_name: str
    ) -> requests.Response:
        return post_once(
            url,
            body,
            authorization,
            timeout=self.timeout,
            server=self.name,
            job_name=job_name,
            proxies=self.proxies,
        )


def _failure(server: str, what: str, response: requests.Response) -> EpmError:
    code = response.status_code
    detail = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        text = body.get("detail") or body.get("message") or body.get("details")
        if isinstance(text, str) and text.strip():
            detail = f": {trim(text)}"
    transient = code == 429 or code >= 500
    return EpmError(
        f"EPM {server}: {what} failed with HTTP {code}{detail}",
        permanent=not transient,
        status_code=code,
    )
