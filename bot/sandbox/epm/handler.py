"""HTTP side of the EPM sandbox: a threading server and its request handler.

Every request goes through the same steps: read it, wait the configured latency,
serve an injected failure if one is queued for its path, otherwise answer the
token endpoint or check credentials and answer a job-status endpoint; then log it.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.sandbox.epm.auth import parse_basic
from bot.sandbox.epm.device import DEVICE_PATH, VERIFICATION_PAGE, VERIFICATION_PATH
from bot.sandbox.epm.faults import Fault
from bot.sandbox.epm.jobs import parse_job_path, render
from bot.sandbox.epm.log import AuthType, RequestRecord
from bot.sandbox.epm.starts import parse_start_path
from bot.sandbox.epm.state import SandboxState

logger = logging.getLogger(__name__)

TOKEN_PATH = "/oauth2/v1/token"  # noqa: S105  (a URL path, not a secret)
# Oracle, "Get Applications" (REST API for EPM Cloud):
# https://docs.oracle.com/en/cloud/saas/enterprise-performance-management-common/prest/get_applications.html
# GET /HyperionPlanning/rest/{api_version}/applications -> {"items": [{"name", "type"}]}.
# Any other prefix (e.g. a base URL ending in /epmcloud) is answered 404 below.
APPLICATIONS_PATH = "/HyperionPlanning/rest/v3/applications"
MAX_BODY = 64 * 1024
_REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class _Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None  # the verification page answers HTML, everything else JSON


@dataclass
class _Meta:
    auth: AuthType
    job_id: str | None = None
    injected: bool = False
    grant_type: str | None = None
    delay: float = 0.0


class EpmServer(ThreadingHTTPServer):
    """Thread-per-connection HTTP server bound to one sandbox's state."""

    daemon_threads = True
    request_queue_size = 128  # bursts of parallel pollers must not overflow the backlog

    def __init__(self, address: tuple[str, int], state: SandboxState) -> None:
        self.state = state
        super().__init__(address, EpmHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a failed request: quietly for a client that went away, loudly for a bug."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("EPM sandbox client %s went away", client_address, exc_info=True)
        else:
            logger.exception("EPM sandbox failed to serve %s", client_address)


class EpmHandler(BaseHTTPRequestHandler):
    """Answers the EPM job-status endpoints and the OAuth token endpoint."""

    protocol_version = "HTTP/1.1"
    server_version = "EpmSandbox/1.0"
    timeout = 30  # idle keep-alive connections end by themselves
    server: EpmServer

    @property
    def state(self) -> SandboxState:
        """The sandbox state this handler serves."""
        return self.server.state

    def setup(self) -> None:
        """Register the connection so that stopping the sandbox can end it."""
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle plus
        # delayed ACKs would add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.state.track(self.connection)

    def finish(self) -> None:
        """Unregister the connection."""
        try:
            super().finish()
        finally:
            self.state.untrack(self.connection)

    def do_GET(self) -> None:
        """Serve a GET."""
        self._handle("GET")

    def do_POST(self) -> None:
        """Serve a POST."""
        self._handle("POST")

    def do_PUT(self) -> None:
        """Serve a PUT (never allowed, but authenticated and logged like the rest)."""
        self._handle("PUT")

    def do_DELETE(self) -> None:
        """Serve a DELETE (never allowed, but authenticated and logged like the rest)."""
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Send http.server's own messages to logging instead of stderr."""
        logger.debug("EPM sandbox: " + format, *args)

    def _handle(self, method: str) -> None:
        started = time.monotonic()
        path = urlsplit(self.path).path
        meta = _Meta(auth=_auth_type(self.headers.get("Authorization")))
        self.state.log.begin()
        reply: _Reply | None = _epm_error(500, "The sandbox failed to answer.")
        try:
            reply = self._answer(method, path, meta)
        finally:
            # Logged before the answer is written, so a client that has its answer
            # always finds its request in the log.
            record = RequestRecord(
                method=method,
                path=path,
                status=reply.status if reply else 0,
                auth=meta.auth,
                started=started,
                ended=time.monotonic(),
                job_id=meta.job_id,
                injected=meta.injected,
                grant_type=meta.grant_type,
                delay=meta.delay,
            )
            self.state.log.append(record)
            logger.debug(
                "EPM sandbox %s %s -> %s in %.3fs", method, path, record.status, record.duration
            )
        if reply is None:
            self.close_connection = True
        else:
            self._send(reply)

    def _answer(self, method: str, path: str, meta: _Meta) -> _Reply | None:
        raw = self._read_body()
        delay = meta.delay = self.state.faults.latency_for(path)
        if delay > 0:
            self.state.stopping.wait(delay)  # stop() cuts the wait short
        fault = self.state.faults.take(path)
        if fault is not None and fault.gate is not None:
            fault.gate.pass_through(self.state.stopping)
        if fault is not None and fault.status is not None:
            meta.injected = True
            return _fault_reply(fault)
        if path == TOKEN_PATH:
            return self._token(method, raw, meta)
        if path == DEVICE_PATH:
            return self._device(method, raw)
        if path == VERIFICATION_PATH:
            return self._verification(method, raw)
        return self._resource(method, path, meta, raw)

    def _read_body(self) -> bytes:
        header = self.headers.get("Content-Length") or "0"
        length = int(header) if header.isdigit() else 0
        return self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""

    def _token(self, method: str, raw: bytes, meta: _Meta) -> _Reply:
        if method != "POST":
            return _epm_error(405, "The token endpoint accepts POST only.")
        form = _form(raw)
        meta.grant_type = form.get("grant_type")
        status, body = self.state.oauth.token_request(form, self.headers.get("Authorization"))
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="oauth"'
        return _Reply(status, body, headers)

    def _device(self, method: str, raw: bytes) -> _Reply:
        if method != "POST":
            return _epm_error(405, "The device endpoint accepts POST only.")
        verification_uri = self.state.base_url + VERIFICATION_PATH
        status, body = self.state.oauth.device_request(
            _form(raw), self.headers.get("Authorization"), verification_uri
        )
        return _Reply(status, body, {"Cache-Control": "no-store"})

    def _verification(self, method: str, raw: bytes) -> _Reply:
        """The page where a person enters the user code and signs in (Basic user)."""
        if method == "GET":
            notice = "Enter the code your device shows, and your EPM user and password."
            return _Reply(200, {}, html=VERIFICATION_PAGE.format(notice=notice))
        if method != "POST":
            return _epm_error(405, f"{method} is not supported on {VERIFICATION_PATH}.")
        form = _form(raw)
        if not self.state.basic_ok(form.get("username", ""), form.get("password", "")):
            notice = "Wrong user or password; nothing was signed in."
            return _Reply(401, {}, html=VERIFICATION_PAGE.format(notice=notice))
        approve = form.get("decision", "approve") != "deny"
        devices, code = self.state.oauth.devices, form.get("user_code", "")
        if not devices.decide(code, user=form["username"], approve=approve):
            notice = "That code is unknown, already used or expired."
            return _Reply(400, {}, html=VERIFICATION_PAGE.format(notice=notice))
        done = "Device signed in. You can close this page." if approve else "Sign-in denied."
        return _Reply(200, {}, html=f"<!doctype html><p>{done}</p>")

    def _resource(self, method: str, path: str, meta: _Meta, raw: bytes = b"") -> _Reply:
        denied = self._authenticate()
        if denied is not None:
            return denied
        if path == APPLICATIONS_PATH:
            return self._applications(method, path)
        collection = parse_start_path(path)
        if collection is not None:
            return self._start(method, path, collection, raw, meta)
        key = parse_job_path(path)
        if key is None:
            return _epm_error(404, f"No resource at {path}.")
        if method != "GET":
            return _epm_error(405, f"{method} is not supported on {path}.")
        meta.job_id = key[2]
        polled = self.state.poll_job(key)
        if polled is None:
            family, app, job_id = key
            if family == "hyperion" and not self.state.has_app(app):
                return _epm_error(404, f"Application {app} does not exist.")
            # Our reading: Oracle documents no answer for a job id it does not know; 404
            # with EPM's error body is what its other missing resources get
            # (docs/oracle/undocumented.md).
            return _epm_error(404, f"Job with id {job_id} does not exist.")
        job, state = polled
        body = render(job, state, base_url=self.state.base_url, executed_by=self.state.username)
        return _Reply(200, body)

    def _applications(self, method: str, path: str) -> _Reply:
        if method != "GET":
            return _epm_error(405, f"{method} is not supported on {path}.")
        items = [
            {"name": name, "type": "HP", "adminMode": False, "dpEnabled": False}
            for name in self.state.applications
        ]
        link = {"rel": "self", "href": self.state.base_url + path, "action": "GET"}
        return _Reply(200, {"items": items, "links": [link]})

    def _start(
        self, method: str, path: str, collection: tuple[str, str | None], raw: bytes, meta: _Meta
    ) -> _Reply:
        if method != "POST":
            return _epm_error(405, f"{method} is not supported on {path}.")
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return _epm_error(400, "The request body is not valid JSON.")
        status, answer, job = self.state.starts.start(*collection, body)
        if job is not None:
            self.state.put_job(job)
            meta.job_id = job.job_id
            answer["links"] = [
                {"rel": "self", "href": self.state.base_url + path + "/" + job.job_id}
            ]
        return _Reply(status, answer)

    def _authenticate(self) -> _Reply | None:
        header = self.headers.get("Authorization") or ""
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer":
            if self.state.oauth.access_token_valid(credentials.strip()):
                return None
            challenge = 'Bearer error="invalid_token"'
        else:
            basic = parse_basic(header)
            if basic is not None and self.state.basic_ok(*basic):
                return None
            challenge = 'Basic realm="Oracle EPM Cloud"'
        reply = _epm_error(401, "Authentication failed.")
        reply.headers["WWW-Authenticate"] = challenge
        return reply

    def _send(self, reply: _Reply) -> None:
        if reply.html is not None:
            payload, kind = reply.html.encode("utf-8"), "text/html; charset=utf-8"
        else:
            payload, kind = json.dumps(reply.body).encode("utf-8"), "application/json"
        self.send_response(reply.status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _form(raw: bytes) -> dict[str, str]:
    """A form-encoded body, first value of each field."""
    pairs = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in pairs.items()}


def _auth_type(header: str | None) -> AuthType:
    scheme = (header or "").partition(" ")[0].lower()
    if scheme == "basic":
        return "basic"
    if scheme == "bearer":
        return "bearer"
    return "other" if scheme else "none"


def _fault_reply(fault: Fault) -> _Reply | None:
    if not fault.status:
        return None
    reply = _epm_error(fault.status, _REASONS.get(fault.status, "Injected failure"))
    if fault.retry_after is not None:
        reply.headers["Retry-After"] = str(fault.retry_after)
    return reply


def _epm_error(status: int, message: str) -> _Reply:
    body = {"detail": message, "status": status, "message": message, "localizedMessage": message}
    return _Reply(status, body)
