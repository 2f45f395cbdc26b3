"""The sandbox's file uploads seen from a test: install the methods, inspect and script them."""

from __future__ import annotations

from collections.abc import Callable

from bot.sandbox.slack.conversations import ConversationsApi
from bot.sandbox.slack.files import FilesApi, UploadedFile
from bot.sandbox.slack.webapi import WebApi
from bot.sandbox.slack.workspace import Workspace

CHANNEL_REFUSALS = ("not_in_channel", "channel_not_found", "is_archived")


def install_files(api: WebApi, workspace: Workspace, base_url: Callable[[], str]) -> FilesApi:
    """Add the upload and ``conversations.open`` methods to ``api``; the files API."""
    files = FilesApi(workspace, base_url)
    api.methods.update(files.methods)
    api.methods.update(ConversationsApi(workspace).methods)
    return files


class FilesView:
    """What tests do with uploads: list them, wait for one, refuse a channel."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def uploads(self, channel: str | None = None) -> list[UploadedFile]:
        """Files shared so far (in ``channel`` when given), oldest first, with their bytes."""
        with self._ws.lock:
            return [f for f in self._ws.files.shared if channel is None or f.channel == channel]

    def wait_for_upload(
        self, channel: str | None = None, *, count: int = 1, timeout: float = 5.0
    ) -> UploadedFile:
        """Wait until ``count`` files were shared (in ``channel``); the last one."""

        def probe() -> UploadedFile | None:
            found = self.uploads(channel)
            return found[count - 1] if len(found) >= count else None

        return self._ws.wait_for(probe, timeout, f"{count} upload(s) to {channel or 'any'}")

    def refuse_channel(self, channel: str, error: str = "not_in_channel") -> None:
        """Make sharing into ``channel`` fail with ``error`` (the bot is not a member, …)."""
        if error not in CHANNEL_REFUSALS:
            raise ValueError(f"error must be one of {', '.join(CHANNEL_REFUSALS)}")
        with self._ws.changed:
            self._ws.files.refused_channels[channel] = error

    def open_dms(self) -> set[str]:
        """DM channels the app opened with ``conversations.open``."""
        with self._ws.lock:
            return set(self._ws.files.open_dms)
