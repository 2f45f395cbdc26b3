"""What users do in the sandbox: slash commands, shortcuts, App Home, clicks, submissions.

Each action is delivered to the app over Socket Mode and answers the app's ``Ack``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.sandbox.slack import payloads
from bot.sandbox.slack.blocks import block_elements
from bot.sandbox.slack.channels import DEFAULT_CHANNEL_ID
from bot.sandbox.slack.records import Ack, Identity, User
from bot.sandbox.slack.socket_mode import SocketModeServer
from bot.sandbox.slack.view_state import build_action, build_state, find_element
from bot.sandbox.slack.workspace import Workspace

DEFAULT_USER_ID = "U0ALICE"
DEFAULT_COMMAND = "/epmpulse"


__all__ = ["DEFAULT_CHANNEL_ID", "DEFAULT_COMMAND", "DEFAULT_USER_ID", "UserActions"]


class UserActions:
    """Socket Mode connections and the interactions users make through them (a mixin)."""

    identity: Identity
    base_url: str
    _workspace: Workspace
    _socket: SocketModeServer

    def issue_trigger(self, user_id: str = DEFAULT_USER_ID) -> str:
        """A fresh trigger_id, as if the user had just interacted with the app."""
        return self._workspace.triggers.issue(user_id)

    def issue_response_url(self) -> str:
        """A fresh response_url, as the sandbox puts into slash-command payloads."""
        return self._workspace.issue_response_url(self.base_url)

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
        with self._workspace.lock:
            home = self._workspace.views.home(user_id)
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

    def message_action(
        self,
        channel: str,
        ts: str,
        action_id: str,
        *,
        block_id: str | None = None,
        user_id: str = DEFAULT_USER_ID,
        timeout: float = 5.0,
    ) -> Ack:
        """Click a button in a message the app posted (as it is now); return the ack.

        ``block_id`` may be left out when only one block has an element ``action_id``.
        The payload carries a fresh ``trigger_id`` and ``response_url``, as Slack's does.
        """
        user = self._user(user_id)
        message = self._workspace.find_message(channel, ts)
        if message is None:
            raise ValueError(f"no message {ts} in {channel}")
        # Slack gives a block posted without a block_id one of its own.
        blocks = [
            {**b, "block_id": b.get("block_id") or f"b{n}"}
            for n, b in enumerate(message.blocks or [])
        ]
        if block_id is None:
            owners = [
                b["block_id"]
                for b in blocks
                if any(e.get("action_id") == action_id for e in block_elements(b))
            ]
            if not owners:
                raise ValueError(f"message {ts} has no element with action_id {action_id!r}")
            if len(owners) > 1:
                raise ValueError(f"{len(owners)} blocks of message {ts} have {action_id!r}")
            block_id = str(owners[0])
        block, element = find_element(blocks, block_id, action_id)
        action = build_action(block, element, None, None)
        payload = payloads.message_block_actions(
            self.identity,
            user,
            message=message,
            channel_name=self._workspace.channel_name(channel),
            action=action,
            trigger_id=self.issue_trigger(user.id),
            response_url=self.issue_response_url(),
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
