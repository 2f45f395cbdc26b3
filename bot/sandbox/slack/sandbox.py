"""``SlackSandbox``: the public face of the strict Slack emulator used by tests and the demo."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from bot.sandbox.slack import payloads
from bot.sandbox.slack.faults import Fault, FaultPlan
from bot.sandbox.slack.ratelimit import METHOD_LIMITS, RateLimiter
from bot.sandbox.slack.records import Ack, Call, Identity, PostedMessage, ResponsePost, User
from bot.sandbox.slack.server import ApiBackend, ApiHttpServer
from bot.sandbox.slack.socket_mode import SocketModeServer
from bot.sandbox.slack.view_state import build_action, build_state, find_element
from bot.sandbox.slack.webapi import WebApi
from bot.sandbox.slack.workspace import Workspace

logger = logging.getLogger(__name__)

DEFAULT_USER_ID = "U0ALICE"
DEFAULT_CHANNEL_ID = "C0GENERAL"
DEFAULT_COMMAND = "/epmpulse"


class SlackSandbox:
    """A strict Slack on loopback: Web API over HTTP, Socket Mode over WebSocket.

    Thread-safe; every wait is bounded by a timeout. Use as a context manager or call
    ``start()``/``stop()``.
    """

    def __init__(
        self,
        bot_token: str = "xoxb-sandbox",  # noqa: S107  (fake loopback token)
        app_token: str = "xapp-sandbox",  # noqa: S107  (fake loopback token)
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        trigger_ttl: float = 3.0,
        rate_limits: bool = True,
        rate_scale: float = 1.0,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.identity = Identity(bot_token=bot_token, app_token=app_token)
        self._workspace = Workspace(self.identity, clock, trigger_ttl)
        self._limiter = RateLimiter(
            clock, enabled=rate_limits, rate_scale=rate_scale, window_seconds=window_seconds
        )
        self._faults = FaultPlan()
        self._stopping = threading.Event()
        self._socket = SocketModeServer(self.identity, host)
        self._address = (host, port)
        self._http: ApiHttpServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> SlackSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> SlackSandbox:
        """Bind both servers on loopback and serve in daemon threads."""
        if self._http is not None or self._stopping.is_set():
            raise RuntimeError("a SlackSandbox can be started only once")
        self._socket.start()
        api = WebApi(self._workspace, self._socket.issue_url)
        backend = ApiBackend(self._workspace, api, self._limiter, self._faults, self._stopping)
        self._http = ApiHttpServer(self._address, backend)
        host, port = self._http.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-sandbox-http",
            daemon=True,
        )
        self._thread.start()
        logger.info("Slack sandbox serving at %s", self.api_url)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close connections, stop both servers and join their threads."""
        http, self._http = self._http, None
        if http is None:
            return
        self._stopping.set()
        self._socket.stop(timeout)
        http.shutdown()
        http.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._workspace.notify()
        logger.info("Slack sandbox stopped")

    @property
    def api_url(self) -> str:
        """Base URL for ``WebClient(base_url=...)``, ending in ``/api/``."""
        return f"{self.base_url}/api/"

    @property
    def bot_token(self) -> str:
        """The only bot token the sandbox accepts."""
        return self.identity.bot_token

    @property
    def app_token(self) -> str:
        """The only app-level token the sandbox accepts (for ``apps.connections.open``)."""
        return self.identity.app_token

    # -- workspace setup -------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        tz: str = "UTC",
        is_bot: bool = False,
    ) -> User:
        """Configure a member for ``users.info`` and for payloads sent on their behalf."""
        user = User(user_id, name or user_id.lower(), real_name or name or user_id, tz, is_bot)
        with self._workspace.changed:
            self._workspace.users[user_id] = user
        return user

    def add_usergroup(self, usergroup_id: str, members: list[str]) -> None:
        """Configure a user group for ``usergroups.users.list``."""
        with self._workspace.changed:
            self._workspace.usergroups[usergroup_id] = list(members)

    def add_channel(self, channel_id: str, name: str) -> None:
        """Give a channel a name (used in slash-command payloads and ``conversations.info``)."""
        with self._workspace.changed:
            self._workspace.channel_names[channel_id] = name

    def create_canvas(
        self, markdown: str = "", *, title: str = "", channel_id: str | None = None
    ) -> str:
        """Create a canvas directly (a channel canvas when ``channel_id`` is given); its id."""
        with self._workspace.changed:
            if channel_id and self._workspace.canvases.channel_canvas(channel_id):
                raise ValueError(f"channel {channel_id} already has a canvas")
            return self._workspace.canvases.create(markdown, title, channel_id)

    def issue_trigger(self, user_id: str = DEFAULT_USER_ID) -> str:
        """A fresh trigger_id, as if the user had just interacted with the app."""
        return self._workspace.triggers.issue(user_id)

    def issue_response_url(self) -> str:
        """A fresh response_url, as the sandbox puts into slash-command payloads."""
        return self._workspace.issue_response_url(self.base_url)

    @property
    def trigger_ttl(self) -> float:
        """Seconds a trigger_id stays valid (Slack: 3)."""
        return self._workspace.triggers.ttl

    @trigger_ttl.setter
    def trigger_ttl(self, seconds: float) -> None:
        self._workspace.triggers.ttl = seconds

    def configure_rate_limits(
        self,
        *,
        enabled: bool | None = None,
        rate_scale: float | None = None,
        window_seconds: float | None = None,
    ) -> None:
        """Switch limits on/off, scale every tier, shorten the window; resets the counts."""
        self._limiter.configure(
            enabled=enabled, rate_scale=rate_scale, window_seconds=window_seconds
        )

    def rate_limit(self, method: str) -> int:
        """Calls of ``method`` one token may make per window with the current scale."""
        return self._limiter.limit_for(method)

    def inject(
        self,
        method: str,
        status: int | None = 429,
        *,
        times: int = 1,
        retry_after: int = 1,
        delay: float = 0.0,
        error: str | None = None,
    ) -> None:
        """Script the next ``times`` calls of ``method``: delay, then 429/5xx/``error``."""
        if method not in METHOD_LIMITS:
            raise ValueError(f"the sandbox does not implement {method!r}")
        fault = Fault(status=status, retry_after=retry_after, delay=delay, error=error)
        self._faults.add(method, fault, times)

    def clear_faults(self) -> None:
        """Drop every scripted fault that has not fired yet."""
        self._faults.clear()

    # -- Socket Mode -------------------------------------------------------------------------

    @property
    def connection_count(self) -> int:
        """Open Socket Mode connections right now."""
        return self._socket.connection_count

    @property
    def connections_opened(self) -> int:
        """Socket Mode connections accepted since start."""
        return self._socket.connections_opened

    def wait_connected(self, timeout: float = 5.0) -> None:
        """Wait until an app is connected over Socket Mode; ``TimeoutError`` otherwise."""
        self._socket.wait_connected(timeout)

    def disconnect(
        self, reason: str = "refresh_requested", *, wait: bool = True, timeout: float = 5.0
    ) -> None:
        """Send ``disconnect`` to the newest connection; with ``wait``, until the app reconnects."""
        old = self._socket.send_disconnect(reason, timeout)
        if wait:
            self._socket.wait_connected(timeout, newer_than=old)

    def close_connections(self) -> int:
        """Close every Socket Mode connection from the server side; how many were open."""
        return self._socket.close_connections()

    def _user(self, user_id: str) -> User:
        try:
            return self._workspace.user(user_id)
        except KeyError:
            raise ValueError(f"{user_id!r} is not a Slack user id") from None

    def send_command(
        self,
        text: str = "",
        *,
        command: str = DEFAULT_COMMAND,
        user_id: str = DEFAULT_USER_ID,
        channel_id: str = DEFAULT_CHANNEL_ID,
        with_response_url: bool = True,
        timeout: float = 5.0,
    ) -> Ack:
        """Deliver a slash command and return the app's ack (``payload`` = immediate reply).

        ``with_response_url=False`` leaves ``response_url`` out of the payload, so a test
        can check how the app replies without one.
        """
        user = self._user(user_id)
        payload = payloads.slash_command(
            self.identity,
            user,
            command=command,
            text=text,
            channel_id=channel_id,
            channel_name=self._workspace.channel_name(channel_id),
            response_url=self.issue_response_url() if with_response_url else None,
            trigger_id=self.issue_trigger(user_id),
        )
        return self._deliver("slash_commands", payload, True, timeout)

    def open_shortcut(
        self, callback_id: str, user_id: str = DEFAULT_USER_ID, *, timeout: float = 5.0
    ) -> Ack:
        """Deliver a global shortcut (with a fresh trigger_id) and return the ack."""
        payload = payloads.shortcut(
            self.identity,
            self._user(user_id),
            callback_id=callback_id,
            trigger_id=self.issue_trigger(user_id),
        )
        return self._deliver("interactive", payload, False, timeout)

    def app_home_opened(self, user_id: str = DEFAULT_USER_ID, *, timeout: float = 5.0) -> Ack:
        """Deliver ``app_home_opened`` (Home tab) and return the ack."""
        self._user(user_id)
        home = self.home_view(user_id)
        payload = payloads.app_home_opened(self.identity, user_id, view=home)
        return self._deliver("events_api", payload, False, timeout)

    def block_action(
        self,
        view_id: str,
        block_id: str,
        action_id: str,
        *,
        value: Any = None,
        selected_option: Any = None,
        user_id: str | None = None,
        timeout: float = 5.0,
        typed: dict[str, Any] | None = None,
    ) -> Ack:
        """Click a button or pick an option in a modal or home view; return the ack.

        ``typed`` holds what the user has entered elsewhere in the view so far
        ({block_id: value}), sent in ``view.state`` as Slack does.
        """
        view, user = self._interactive_view(view_id, user_id)
        block, element = find_element(view["blocks"], block_id, action_id)
        action = build_action(block, element, value, selected_option)
        view["state"] = {"values": build_state(view["blocks"], typed or {}, require=False)}
        payload = payloads.block_actions(
            self.identity, user, view=view, action=action, trigger_id=self.issue_trigger(user.id)
        )
        return self._deliver("interactive", payload, False, timeout)

    def submit_view(
        self,
        view_id: str,
        values: dict[str, Any] | None = None,
        user_id: str | None = None,
        *,
        timeout: float = 5.0,
    ) -> Ack:
        """Submit an open modal with ``values`` ({block_id: value or {action_id: value}}).

        After the ack the sandbox does what Slack would: close the modal, or apply the
        ``response_action`` (``errors``, ``update``, ``push``, ``clear``).
        """
        view, user = self._interactive_view(view_id, user_id)
        if view["type"] != "modal":
            raise ValueError(f"view {view_id} is a {view['type']} view, not a modal")
        state = build_state(view["blocks"], values or {})
        with self._workspace.changed:
            self._workspace.views.set_state(view_id, state)
        view["state"] = {"values": state}
        payload = payloads.view_submission(
            self.identity, user, view=view, trigger_id=self.issue_trigger(user.id)
        )
        ack = self._deliver("interactive", payload, True, timeout)
        with self._workspace.changed:
            refusal = self._workspace.views.apply_response_action(view, user.id, ack.payload)
            self._workspace.changed.notify_all()
        return dataclasses.replace(ack, refusal=refusal) if refusal else ack

    def _interactive_view(self, view_id: str, user_id: str | None) -> tuple[dict[str, Any], User]:
        with self._workspace.lock:
            view = self._workspace.views.get(view_id)
            if view is None or not self._workspace.views.is_open(view_id):
                raise ValueError(f"view {view_id} is not open")
            owner = self._workspace.views.owner(view_id)
        return view, self._user(user_id or owner)

    def _deliver(
        self, envelope_type: str, payload: dict[str, Any], accepts: bool, timeout: float
    ) -> Ack:
        return self._socket.deliver(
            envelope_type, payload, accepts_response_payload=accepts, timeout=timeout
        )

    # -- inspection --------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Every Web API call so far (of ``method`` when given), oldest first."""
        with self._workspace.lock:
            return [c for c in self._workspace.calls if method is None or c.method == method]

    def wait_for_call(
        self,
        method: str,
        *,
        count: int = 1,
        where: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,
    ) -> Call:
        """Wait until ``count`` calls of ``method`` (matching ``where``) arrived; the last one."""

        def probe() -> Call | None:
            found = [c for c in self.calls(method) if where is None or where(c)]
            return found[count - 1] if len(found) >= count else None

        return self._workspace.wait_for(probe, timeout, f"{count} call(s) of {method}")

    def messages(self, channel: str | None = None) -> list[PostedMessage]:
        """Messages posted through ``chat.*`` (latest version of each), oldest first."""
        with self._workspace.lock:
            found = self._workspace.messages
            return [m for m in found if channel is None or m.channel == channel]

    def responses(self) -> list[ResponsePost]:
        """Posts the app made to response_urls, oldest first."""
        with self._workspace.lock:
            return list(self._workspace.responses)

    def wait_for_response(self, *, count: int = 1, timeout: float = 5.0) -> ResponsePost:
        """Wait until ``count`` response_url posts arrived; the last one."""

        def probe() -> ResponsePost | None:
            found = self.responses()
            return found[count - 1] if len(found) >= count else None

        return self._workspace.wait_for(probe, timeout, f"{count} response_url post(s)")

    def view(self, view_id: str) -> dict[str, Any] | None:
        """The latest version of a view by id, or None."""
        with self._workspace.lock:
            return self._workspace.views.get(view_id)

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The latest App Home view published for ``user_id``, or None."""
        with self._workspace.lock:
            return self._workspace.views.home(user_id)

    def open_modals(self, user_id: str) -> list[dict[str, Any]]:
        """The user's open modal stack, root first."""
        with self._workspace.lock:
            return self._workspace.views.stack(user_id)

    def wait_for_modal(
        self,
        user_id: str = DEFAULT_USER_ID,
        *,
        where: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Wait until the user's top open modal matches ``where`` (any modal by default)."""

        def probe() -> dict[str, Any] | None:
            stack = self.open_modals(user_id)
            top = stack[-1] if stack else None
            return top if top is not None and (where is None or where(top)) else None

        return self._workspace.wait_for(probe, timeout, f"a modal for {user_id}")

    def wait_for_home_view(
        self,
        user_id: str = DEFAULT_USER_ID,
        *,
        where: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Wait until the user's home view exists and matches ``where``."""

        def probe() -> dict[str, Any] | None:
            home = self.home_view(user_id)
            return home if home is not None and (where is None or where(home)) else None

        return self._workspace.wait_for(probe, timeout, f"a home view for {user_id}")

    def canvas_markdown(self, canvas_id: str) -> str:
        """The current markdown of a canvas; ``KeyError`` for an unknown canvas."""
        with self._workspace.lock:
            canvas = self._workspace.canvases.find(canvas_id)
            if canvas is None:
                raise KeyError(canvas_id)
            return canvas.markdown

    def canvas_title(self, canvas_id: str) -> str:
        """The current title of a canvas; ``KeyError`` for an unknown canvas."""
        with self._workspace.lock:
            canvas = self._workspace.canvases.find(canvas_id)
            if canvas is None:
                raise KeyError(canvas_id)
            return canvas.title

    def channel_canvas_id(self, channel_id: str) -> str | None:
        """The id of the channel canvas of ``channel_id``, or None."""
        with self._workspace.lock:
            canvas = self._workspace.canvases.channel_canvas(channel_id)
            return canvas.id if canvas else None

    def clear_records(self) -> None:
        """Forget recorded calls and response_url posts (messages, views, canvases stay)."""
        with self._workspace.changed:
            self._workspace.calls.clear()
            self._workspace.responses.clear()
