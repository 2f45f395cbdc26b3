"""``conversations.open``: the app's direct-message channel with one user.

Opening a DM is what lets the app share files there (``files.completeUploadExternal``
refuses a ``D…`` channel that was never opened). The DM's id is derived from the
user's id, so opening it twice answers the same channel, as Slack does.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.slack.errors import ApiError, invalid_arguments
from bot.sandbox.slack.payloads import dm_channel
from bot.sandbox.slack.workspace import USER_ID, Workspace

Args = dict[str, Any]


class ConversationsApi:
    """``conversations.open`` for one user (multi-person DMs are not emulated)."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self.methods = {"conversations.open": self.conversations_open}

    def conversations_open(self, args: Args) -> dict[str, Any]:
        """Open (or find) the DM with ``users``; answers ``{"channel": {"id": "D…"}}``."""
        users = args.get("users")
        if args.get("channel"):
            raise invalid_arguments("resuming a conversation is not emulated", "/channel")
        if not isinstance(users, str) or not users:
            raise ApiError("users_list_not_supplied")
        names = [u.strip() for u in users.split(",") if u.strip()]
        if len(names) != 1:
            raise invalid_arguments("the sandbox opens DMs with exactly one user", "/users")
        if not USER_ID.match(names[0]):
            raise ApiError("user_not_found")
        channel = dm_channel(names[0])
        already = channel in self._ws.files.open_dms
        self._ws.files.open_dms.add(channel)
        body: dict[str, Any] = {"channel": {"id": channel, "is_im": True, "user": names[0]}}
        if already:
            body.update(no_op=True, already_open=True)
        return body
