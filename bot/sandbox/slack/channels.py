"""The workspace's channels, and how Slack resolves a ``channel`` argument.

Slack refuses a well-formed id it does not know (``channel_not_found``), and a private
channel the bot is not in looks just the same to the bot. Some methods
(``chat.postMessage``, ``chat.postEphemeral``) also take a channel's name, with or
without ``#``; the others want the id. A user id names the app's DM with that user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.sandbox.slack.errors import ApiError
from bot.sandbox.slack.payloads import dm_channel

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
DEFAULT_CHANNEL_ID = "C0GENERAL"
DEFAULT_CHANNEL_NAME = "general"


@dataclass(frozen=True)
class Channel:
    """A public or private channel, and whether the bot is a member."""

    id: str
    name: str
    private: bool = False
    member: bool = True

    @property
    def visible(self) -> bool:
        """Whether the bot can see it (a private channel only once the bot is invited)."""
        return self.member or not self.private


class ChannelDirectory:
    """Every channel of the workspace by id; starts with ``#general`` (``C0GENERAL``)."""

    def __init__(self) -> None:
        self._by_id: dict[str, Channel] = {
            DEFAULT_CHANNEL_ID: Channel(DEFAULT_CHANNEL_ID, DEFAULT_CHANNEL_NAME)
        }

    def add(self, channel: Channel) -> None:
        """Create or replace a channel."""
        if not CHANNEL_ID.match(channel.id) or channel.id.startswith("D"):
            raise ValueError(f"{channel.id!r} is not a channel id (C… or G…)")
        self._by_id[channel.id] = channel

    def get(self, channel_id: str) -> Channel | None:
        """The channel with this id, or None."""
        return self._by_id.get(channel_id)

    def name(self, channel_id: str) -> str:
        """A channel's name for payloads (``general`` for a channel never configured)."""
        channel = self._by_id.get(channel_id)
        return channel.name if channel else DEFAULT_CHANNEL_NAME

    def resolve(self, value: str | None, *, by_name: bool = False) -> str:
        """The id ``value`` names, as Slack resolves it; ``channel_not_found`` otherwise.

        A user id gives the DM channel with that user; a ``D…`` id is a DM. With
        ``by_name`` a channel name (``general`` or ``#general``) is looked up too.
        """
        if not value:
            raise ApiError("channel_not_found")
        if USER_ID.match(value):
            return dm_channel(value)
        if CHANNEL_ID.match(value):
            if value.startswith("D"):
                return value
            channel = self._by_id.get(value)
            if channel is not None and channel.visible:
                return value
            raise ApiError("channel_not_found")
        if by_name:
            wanted = value.removeprefix("#")
            for channel in self._by_id.values():
                if channel.name == wanted and channel.visible:
                    return channel.id
        raise ApiError("channel_not_found")
