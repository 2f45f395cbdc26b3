"""`EpmSandbox`: the public face of the Oracle EPM Cloud emulator."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from bot.sandbox.epm.device import DEVICE_PATH, VERIFICATION_PATH, DeviceAuthorizations
from bot.sandbox.epm.faults import Fault
from bot.sandbox.epm.handler import TOKEN_PATH, EpmServer
from bot.sandbox.epm.jobs import JobState, Outcome, ScriptedJob, job_key, job_path, make_job
from bot.sandbox.epm.log import RequestRecord
from bot.sandbox.epm.starts import StartRecord
from bot.sandbox.epm.state import SandboxState
from bot.sandbox.serving import Gate, Serving, serve_in_thread

logger = logging.getLogger(__name__)

_HP = ("planning", "fccs")  # kinds addressed by application name


class EpmSandbox(Serving):
    """A real HTTP server on loopback that answers like EPM Cloud job-status and OAuth APIs."""

    def __init__(
        self,
        username: str = "epm_admin",
        password: str = "epm-password",  # noqa: S107  (fake loopback credentials)
        *,
        latency: float = 0.0,
        expires_in: int = 3600,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        applications: Sequence[str] = ("Vision",),
    ) -> None:
        """``applications`` are the Planning/FCCS applications the sandbox lists."""
        self._state = SandboxState(
            applications=tuple(applications),
            username=username,
            password=password,
            latency=latency,
            expires_in=expires_in,
            clock=clock,
        )
        self._address = (host, port)
        self._server: EpmServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> EpmSandbox:
        """Bind the port and serve in a daemon thread; a sandbox starts only once."""
        if self._server is not None or self._state.stopping.is_set():
            raise RuntimeError("an EpmSandbox can be started only once")
        self._server = EpmServer(self._address, self._state)
        host, port = self._server.server_address[:2]
        self._state.base_url = f"http://{host!s}:{port}"
        self._thread = serve_in_thread(self._server, "epm-sandbox", poll_interval=0.02)
        logger.info("EPM sandbox serving at %s", self._state.base_url)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, cut latency waits short, close connections and join threads."""
        server, self._server = self._server, None
        if server is None:
            return
        self._state.stopping.set()
        stopper = threading.Thread(target=server.shutdown, name="epm-sandbox-stop", daemon=True)
        stopper.start()
        stopper.join(timeout)
        self._state.close_connections(timeout)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        logger.info("EPM sandbox at %s stopped", self._state.base_url)

    @property
    def base_url(self) -> str:
        """Root URL of the sandbox, e.g. `http://127.0.0.1:54321` (no trailing slash)."""
        if not self._state.base_url:
            raise RuntimeError("the EpmSandbox is not started")
        return self._state.base_url

    @property
    def token_url(self) -> str:
        """URL of the OAuth 2 token endpoint."""
        return self.base_url + TOKEN_PATH

    @property
    def username(self) -> str:
        """The HTTP Basic user name the sandbox accepts."""
        return self._state.username

    @property
    def password(self) -> str:
        """The HTTP Basic password the sandbox accepts."""
        return self._state.password

    # -- OAuth ---------------------------------------------------------------------

    @property
    def expires_in(self) -> int:
        """Lifetime in seconds of access tokens issued from now on."""
        return self._state.oauth.expires_in

    @expires_in.setter
    def expires_in(self, seconds: int) -> None:
        self._state.oauth.expires_in = seconds

    def register_client(self, client_id: str, client_secret: str) -> None:
        """Register an OAuth client that may use the token endpoint."""
        self._state.oauth.register_client(client_id, client_secret)

    def issue_refresh_token(self, client_id: str) -> str:
        """Mint an initial refresh token for a registered client (ValueError if unknown)."""
        return self._state.oauth.issue_refresh_token(client_id)

    def issue_access_token(self, client_id: str, expires_in: int | None = None) -> str:
        """Mint a bearer access token directly, without a token request."""
        return self._state.oauth.issue_access_token(client_id, expires_in)

    def live_refresh_tokens(self, client_id: str) -> list[str]:
        """Return the client's refresh tokens that are still unused."""
        return self._state.oauth.live_refresh_tokens(client_id)

    def expire_access_tokens(self) -> None:
        """Expire every access token issued so far; their next use answers 401."""
        self._state.oauth.expire_access_tokens()

    # -- device sign-in (RFC 8628) ---------------------------------------------------

    @property
    def device_url(self) -> str:
        """URL of the device authorization endpoint (``oauth_device``'s ``device_url``)."""
        return self.base_url + DEVICE_PATH

    @property
    def verification_url(self) -> str:
        """The page where a person enters a user code and signs in."""
        return self.base_url + VERIFICATION_PATH

    @property
    def devices(self) -> DeviceAuthorizations:
        """The pending device sign-ins; set ``expires_in`` and ``interval`` here."""
        return self._state.oauth.devices

    def approve_device(self, user_code: str, user: str | None = None) -> bool:
        """Sign in the device showing ``user_code``, as a person on the page would."""
        return self.devices.decide(user_code, user=user or self.username, approve=True)

    def deny_device(self, user_code: str) -> bool:
        """Decline the device showing ``user_code``."""
        return self.devices.decide(user_code, user=self.username, approve=False)

    # -- jobs ----------------------------------------------------------------------

    def add_job(
        self,
        kind: str,
        job_id: int | str,
        statuses: Sequence[Outcome | JobState] | Outcome = ("ok",),
        *,
        details: str | None = None,
        app: str = "Vision",
        job_name: str | None = None,
    ) -> ScriptedJob:
        """Script a job: each served poll returns the next status, the last one sticks."""
        job = make_job(kind, job_id, statuses, details=details, app=app, job_name=job_name)
        self._state.put_job(job)
        return job

    def job_polls(self, kind: str, job_id: int | str, app: str = "Vision") -> int:
        """Return how many polls of a job were served (0 for a job never added)."""
        job = self._state.get_job(job_key(kind, str(job_id), app if kind in _HP else None))
        return job.polls if job is not None else 0

    def job_url(self, kind: str, job_id: int | str, app: str = "Vision") -> str:
        """Return the full status URL of a job of `kind`."""
        return self.base_url + job_path(kind, str(job_id), app if kind in _HP else None)

    # -- job starts ----------------------------------------------------------------

    def script_start(
        self,
        job_name: str,
        statuses: Sequence[Outcome | JobState] | Outcome = ("ok",),
        *,
        details: str | None = None,
    ) -> None:
        """Jobs started under ``job_name`` from now on answer polls with ``statuses``."""
        items = (statuses,) if isinstance(statuses, str) else tuple(statuses)
        if not items:
            raise ValueError("a job script needs at least one status")
        self._state.starts.script(job_name, items, details)

    def refuse_start(self, job_name: str, status: int = 400, detail: str = "") -> None:
        """Starts of ``job_name`` answer ``status`` with EPM's error body naming ``detail``."""
        if status < 400:
            raise ValueError("a refusal needs an HTTP error status")
        self._state.starts.refuse(job_name, status, detail or f"Job {job_name} cannot be run.")

    def starts(self) -> list[StartRecord]:
        """Every job start that reached the sandbox (refused ones too), oldest first."""
        return self._state.starts.records()

    # -- latency and failures ------------------------------------------------------

    def set_latency(self, seconds: float, path_prefix: str | None = None) -> None:
        """Delay answers by `seconds`, globally or for paths starting with `path_prefix`."""
        self._state.faults.set_latency(seconds, path_prefix)

    def inject(
        self,
        path_prefix: str,
        status: int = 503,
        *,
        times: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` requests under `path_prefix` with `status` (no side effects)."""
        if status < 400:
            raise ValueError("an injected failure needs an HTTP error status")
        self._state.faults.add(Fault(path_prefix, status, times, retry_after))

    def hold(self, path_prefix: str, *, times: int = 1) -> Gate:
        """Hold the next `times` requests under the prefix until the gate is released;
        they are then answered as usual (a poll that is still in flight)."""
        gate = Gate()
        self._state.faults.add(Fault(path_prefix, None, times, gate=gate))
        return gate

    def drop_connections(self, path_prefix: str, *, times: int = 1) -> None:
        """Close the connection without answering the next `times` requests under the prefix."""
        self._state.faults.add(Fault(path_prefix, 0, times))

    def clear_faults(self) -> None:
        """Forget pending injected failures and per-prefix latency."""
        self._state.faults.clear()

    # -- request log ---------------------------------------------------------------

    def requests(self, path_prefix: str | None = None) -> list[RequestRecord]:
        """Return the served requests (under `path_prefix` if given), oldest first."""
        return self._state.log.records(path_prefix)

    def max_concurrency(self, path_prefix: str | None = None) -> int:
        """Return the most requests (under `path_prefix` if given) in flight at once."""
        return self._state.log.max_concurrency(path_prefix)

    def connections_opened(self) -> int:
        """Return how many client connections the sandbox has accepted so far."""
        return self._state.connections_opened

    def in_flight(self) -> int:
        """Return how many requests are being served right now."""
        return self._state.log.in_flight()

    def clear_requests(self) -> None:
        """Forget the request log."""
        self._state.log.clear()
