"""The HTTP side of the sandbox: ``/api/<method>`` and the ``response_url`` endpoint.

Each Web API request goes through the same gate Slack's does, in this order: known
method, scripted fault (delay, 429, 5xx), token (``not_authed``/``invalid_auth``/
``not_allowed_token_type``), rate limit (429 + ``Retry-After``), then the method itself.
Every request is recorded as a ``Call``, refusals included.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.sandbox.slack.blocks import validate_message_blocks
from bot.sandbox.slack.errors import ApiError, invalid_arguments
from bot.sandbox.slack.faults import Fault, FaultPlan
from bot.sandbox.slack.ratelimit import RateLimiter
from bot.sandbox.slack.records import Call, ResponsePost
from bot.sandbox.slack.webapi import APP_TOKEN_METHODS, WebApi
from bot.sandbox.slack.workspace import Workspace

logger = logging.getLogger(__name__)

# Arguments Slack accepts as JSON-encoded strings inside form (or JSON) bodies.
JSON_ARGUMENTS = frozenset(
    {"blocks", "attachments", "view", "changes", "document_content", "criteria", "metadata"}
)
MAX_BODY_BYTES = 2_000_000
# Uploaded files (files_upload_v2) may be larger than any Web API request.
MAX_UPLOAD_BYTES = 50_000_000
Answer = tuple[int, dict[str, Any], dict[str, str]]


def _decode_json_arguments(args: dict[str, Any]) -> dict[str, Any]:
    for name in JSON_ARGUMENTS & args.keys():
        value = args[name]
        if isinstance(value, str):
            try:
                args[name] = json.loads(value)
            except json.JSONDecodeError:
                raise invalid_arguments("must be valid JSON", f"/{name}") from None
    return args


def parse_arguments(content_type: str, raw: bytes, query: str) -> dict[str, Any]:
    """Arguments of a Web API request from its query string and JSON or form body."""
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    kind = content_type.split(";")[0].strip().lower()
    if raw and kind == "application/json":
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError("invalid_json") from None
        if not isinstance(body, dict):
            raise ApiError("invalid_json")
        args.update(body)
    elif raw and kind in ("application/x-www-form-urlencoded", ""):
        args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    elif raw:
        raise ApiError("invalid_form_data")
    return _decode_json_arguments(args)


class ApiBackend:
    """Gatekeeping, recording and dispatch behind the HTTP handler."""

    def __init__(
        self,
        workspace: Workspace,
        api: WebApi,
        limiter: RateLimiter,
        faults: FaultPlan,
        stopping: threading.Event,
        upload: Callable[[str, bytes], tuple[int, dict[str, Any]]] | None = None,
    ) -> None:
        self.upload = upload
        self.workspace = workspace
        self.api = api
        self.limiter = limiter
        self.faults = faults
        self.stopping = stopping

    def web_api(
        self, method: str, args: dict[str, Any], token: str | None, via_header: bool
    ) -> Answer:
        """Answer one Web API request and record it."""
        started = time.time()
        fault = self.faults.take(method) if method in self.api.methods else None
        try:
            status, body, headers = self._answer(method, args, token, via_header, fault)
        except ApiError as exc:
            status, body, headers = exc.status, exc.body(), exc.headers
        except Exception:  # the error boundary: answer 500 like Slack, log the traceback
            logger.exception("slack sandbox: %s failed", method)
            status, body, headers = 500, {"ok": False, "error": "internal_error"}, {}
        delay = fault.delay if fault is not None else 0.0
        self.workspace.record_call(
            Call(method, args, token, started, status, body, headers, delay=delay)
        )
        logger.debug("slack sandbox %s -> %s %s", method, status, body.get("error", "ok"))
        return status, body, headers

    def _answer(
        self,
        method: str,
        args: dict[str, Any],
        token: str | None,
        via_header: bool,
        fault: Fault | None,
    ) -> Answer:
        if method not in self.api.methods:
            raise ApiError("unknown_method", extra={"req_method": method})
        if fault is not None:
            self.stopping.wait(fault.delay)
            if fault.gate is not None:
                fault.gate.pass_through(self.stopping)
            if fault.answers:
                return self._faulty(fault)
        caller = self._authenticate(method, token, via_header)
        retry_after = self.limiter.admit(method, caller, args.get("channel"))
        if retry_after is not None:
            raise ApiError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})
        return 200, self.api.call(method, args), {}

    @staticmethod
    def _faulty(fault: Fault) -> Answer:
        if fault.status == 429 and fault.error is None:
            return (
                429,
                {"ok": False, "error": "ratelimited"},
                {"Retry-After": str(fault.retry_after)},
            )
        status = fault.status or 200
        return status, {"ok": False, "error": fault.error or "internal_error"}, {}

    def _authenticate(self, method: str, token: str | None, via_header: bool) -> str:
        ident = self.workspace.identity
        if not token:
            raise ApiError("not_authed")
        if token not in (ident.bot_token, ident.app_token):
            raise ApiError("invalid_auth")
        wants_app_token = method in APP_TOKEN_METHODS
        if (token == ident.app_token) != wants_app_token:
            raise ApiError("not_allowed_token_type")
        if wants_app_token and not via_header:
            raise ApiError("not_authed")  # Slack wants the app token in the header only
        return token

    def response_url(self, url: str, raw: bytes) -> Answer:
        """Accept a post to a response_url the sandbox issued."""
        token = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = {"_raw": raw.decode("utf-8", "replace")}
        if not isinstance(body, dict):
            body = {"_raw": body}
        status, answer = self._check_response(token, body)
        self.workspace.record_response(ResponsePost(url, body, status, time.time()))
        return status, answer, {}

    def _check_response(self, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        refusal = self.workspace.use_response_url(token)
        if refusal is not None:
            return 404, {"ok": False, "error": refusal}
        if body.get("delete_original"):
            return 200, {"ok": True}
        try:
            if body.get("blocks") is not None:
                validate_message_blocks(body["blocks"])
            if not body.get("text") and not body.get("blocks"):
                raise ApiError("no_text")
        except ApiError as exc:
            return 400, exc.body()
        return 200, {"ok": True}


class ApiHttpServer(ThreadingHTTPServer):
    """A threading HTTP server that hands every request to one ``ApiBackend``."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], backend: ApiBackend) -> None:
        self.backend = backend
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: ApiHttpServer
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        """Serve a GET (Slack accepts GET for read methods)."""
        self._serve()

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Send http.server's access log to debug logging instead of stderr."""
        logger.debug("slack sandbox http: " + format, *args)

    def _serve(self) -> None:
        backend = self.server.backend
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        cap = MAX_UPLOAD_BYTES if url.path.startswith("/upload/") else MAX_BODY_BYTES
        if length > cap:
            self._send(413, {"ok": False, "error": "request_too_large"}, {})
            return
        raw = self.rfile.read(length) if length else b""
        if url.path.startswith("/api/"):
            self._send(*self._web_api(backend, url.path[len("/api/") :], url.query, raw))
        elif url.path.startswith("/upload/v1/") and self.command == "POST" and backend.upload:
            self._send(*backend.upload(url.path.rsplit("/", 1)[-1], raw), {})
        elif url.path.startswith("/response/") and self.command == "POST":
            host, port = self.server.server_address[:2]
            self._send(*backend.response_url(f"http://{host!s}:{port}{url.path}", raw))
        else:
            self._send(404, {"ok": False, "error": "not_found"}, {})

    def _web_api(self, backend: ApiBackend, method: str, query: str, raw: bytes) -> Answer:
        auth = self.headers.get("Authorization") or ""
        token: str | None = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else None
        try:
            args = parse_arguments(self.headers.get("Content-Type") or "", raw, query)
        except ApiError as exc:
            backend.workspace.record_call(
                Call(method, {}, token, time.time(), exc.status, exc.body(), exc.headers)
            )
            return exc.status, exc.body(), exc.headers
        via_header = token is not None
        body_token = args.pop("token", None)
        if token is None and isinstance(body_token, str):
            token = body_token
        return backend.web_api(method, args, token, via_header)

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
