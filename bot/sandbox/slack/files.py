"""External file uploads, the way ``files_upload_v2`` does them, held to Slack's rules.

1. ``files.getUploadURLExternal`` (``filename``, ``length`` in bytes, optional
   ``alt_txt`` up to 1000 characters) issues a file id and a single-use upload URL.
2. The client POSTs the raw bytes to that URL. The sandbox refuses an unknown or used
   URL (404) and bytes whose size differs from the declared ``length`` (400).
3. ``files.completeUploadExternal`` (``files`` = ``[{"id", "title"}]``, ``channel_id``
   or ``channels``, ``initial_comment``) shares the files. Unknown file ids, ids whose
   bytes never arrived and ids already completed answer ``file_not_found``; a channel
   that does not exist (or a DM never opened with ``conversations.open``) answers
   ``channel_not_found``; a channel the bot is not a member of answers ``not_in_channel``.

The shared files keep their bytes so tests can look at what was uploaded; a share with
an ``initial_comment`` also posts that text as a message in the channel.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.sandbox.slack.errors import ApiError, invalid_arguments
from bot.sandbox.slack.records import PostedMessage

if TYPE_CHECKING:  # the workspace holds a FileStore, so it imports this module
    from bot.sandbox.slack.workspace import Workspace

Args = dict[str, Any]
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
ALT_TEXT_MAX = 1000
MAX_FILE_BYTES = 1_000_000_000


@dataclass(frozen=True)
class UploadedFile:
    """A file shared with ``files.completeUploadExternal``."""

    id: str
    filename: str
    title: str
    alt_txt: str | None
    data: bytes
    channel: str
    initial_comment: str | None
    ts: str


@dataclass
class _Pending:
    id: str
    filename: str
    length: int
    alt_txt: str | None
    data: bytes | None = None


class FileStore:
    """Pending and shared uploads, DMs opened, and channels the bot may not post in.

    Guarded by the workspace lock like every other store.
    """

    def __init__(self) -> None:
        self.pending: dict[str, _Pending] = {}
        self.by_token: dict[str, str] = {}
        self.shared: list[UploadedFile] = []
        self.open_dms: set[str] = set()
        self.refused_channels: dict[str, str] = {}
        self._counter = 0

    def next_id(self) -> str:
        """A new file id (``F…``)."""
        self._counter += 1
        return f"F0SANDBOX{self._counter:04d}"


class FilesApi:
    """``files.getUploadURLExternal``, the upload URL and ``files.completeUploadExternal``."""

    def __init__(self, workspace: Workspace, base_url: Callable[[], str]) -> None:
        self._ws = workspace
        self._base_url = base_url
        self.methods: dict[str, Callable[[Args], dict[str, Any]]] = {
            "files.getUploadURLExternal": self.get_upload_url_external,
            "files.completeUploadExternal": self.complete_upload_external,
        }

    @property
    def store(self) -> FileStore:
        """The workspace's file store."""
        return self._ws.files

    def get_upload_url_external(self, args: Args) -> dict[str, Any]:
        """Reserve a file id and a single-use upload URL for ``length`` bytes."""
        filename = args.get("filename")
        if not isinstance(filename, str) or not filename:
            raise invalid_arguments("missing required field", "/filename")
        length = _length(args.get("length"))
        alt_txt = args.get("alt_txt")
        if alt_txt is not None and (not isinstance(alt_txt, str) or len(alt_txt) > ALT_TEXT_MAX):
            raise invalid_arguments(f"must be at most {ALT_TEXT_MAX} characters", "/alt_txt")
        file_id = self.store.next_id()
        token = secrets.token_urlsafe(12)
        self.store.pending[file_id] = _Pending(file_id, filename, length, alt_txt or None)
        self.store.by_token[token] = file_id
        return {"upload_url": f"{self._base_url()}/upload/v1/{token}", "file_id": file_id}

    def receive(self, token: str, data: bytes) -> tuple[int, dict[str, Any]]:
        """Accept the bytes POSTed to an upload URL: HTTP status and JSON body."""
        with self._ws.changed:
            file_id = self.store.by_token.pop(token, None)
            pending = self.store.pending.get(file_id or "")
            if pending is None:
                return 404, {"ok": False, "error": "invalid_upload_url"}
            if len(data) != pending.length:
                del self.store.pending[pending.id]
                return 400, {
                    "ok": False,
                    "error": "length_mismatch",
                    "detail": f"declared {pending.length} bytes, received {len(data)}",
                }
            pending.data = data
            self._ws.changed.notify_all()
        return 200, {"ok": True, "file_id": pending.id, "size": len(data)}

    def complete_upload_external(self, args: Args) -> dict[str, Any]:
        """Share uploaded files in one channel (or none: private)."""
        items = _file_items(args.get("files"))
        channels = _channels(args)
        found: list[tuple[_Pending, str]] = []
        for item in items:
            pending = self.store.pending.get(str(item.get("id") or ""))
            if pending is None or pending.data is None:
                raise ApiError("file_not_found")
            found.append((pending, str(item.get("title") or pending.filename)))
        for channel in channels:
            self._check_channel(channel)
        comment = args.get("initial_comment")
        comment = comment if isinstance(comment, str) and comment else None
        shared = []
        for pending, title in found:
            del self.store.pending[pending.id]
            for channel in channels or [""]:
                ts = self._ws.next_ts()
                assert pending.data is not None
                self.store.shared.append(
                    UploadedFile(
                        pending.id,
                        pending.filename,
                        title,
                        pending.alt_txt,
                        pending.data,
                        channel,
                        comment,
                        ts,
                    )
                )
            shared.append(_file_object(pending, title))
        for channel in channels:
            if comment:
                self._ws.add_message(PostedMessage(channel, self._ws.next_ts(), comment, None))
        return {"files": shared}

    def _check_channel(self, channel: str) -> None:
        if not CHANNEL_ID.match(channel):
            raise ApiError("channel_not_found")
        if channel.startswith("D") and channel not in self.store.open_dms:
            raise ApiError("channel_not_found")
        refusal = self.store.refused_channels.get(channel)
        if refusal is not None:
            raise ApiError(refusal)


def _length(value: Any) -> int:
    try:
        length = int(value)
    except (TypeError, ValueError):
        raise invalid_arguments("must be a whole number of bytes", "/length") from None
    if not 1 <= length <= MAX_FILE_BYTES:
        raise invalid_arguments(f"must be between 1 and {MAX_FILE_BYTES}", "/length")
    return length


def _file_items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise invalid_arguments("must be valid JSON", "/files") from None
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise invalid_arguments("must be a non-empty array of {id, title}", "/files")
    return value


def _channels(args: Args) -> list[str]:
    channel_id = args.get("channel_id")
    listed = args.get("channels")
    channels = [channel_id] if isinstance(channel_id, str) and channel_id else []
    if isinstance(listed, str) and listed:
        channels += [c.strip() for c in listed.split(",") if c.strip()]
    if len(set(channels)) != len(channels):
        raise invalid_arguments("a channel is named twice", "/channels")
    return channels


def _file_object(pending: _Pending, title: str) -> dict[str, Any]:
    return {
        "id": pending.id,
        "name": pending.filename,
        "title": title,
        "mimetype": _mimetype(pending.filename),
        "size": pending.length,
        "alt_txt": pending.alt_txt,
    }


def _mimetype(filename: str) -> str:
    return "image/png" if filename.lower().endswith(".png") else "application/octet-stream"
