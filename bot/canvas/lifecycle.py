"""Which canvas to maintain, decided once at start-up (SPEC §3, §5).

- ``SLACK_CANVAS_ID`` given: the canvas is checked with a harmless
  ``canvases.sections.lookup``; a canvas that does not exist stops start-up with a
  clear message (no placeholder ids, ever).
- Only ``SLACK_CHANNEL_ID`` given: the channel canvas is created once with
  ``conversations.canvases.create`` (already holding the board) and its id is kept in
  the store's meta; later starts reuse it. When the channel already has a canvas its
  id is read from ``conversations.info`` (``channel.properties.canvas.file_id``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.canvas.render import digest
from bot.errors import CanvasError, ConfigError
from bot.service import StatusService

logger = logging.getLogger(__name__)

CANVAS_META = "canvas"
_MISSING = frozenset({"canvas_not_found", "canvas_deleted", "file_not_found", "file_deleted"})


@dataclass(frozen=True)
class ResolvedCanvas:
    """The canvas to maintain; ``created_with`` is the hash of content it was created with."""

    canvas_id: str
    created_with: str | None = None


def check_canvas(client: WebClient, canvas_id: str) -> None:
    """Make sure ``canvas_id`` exists and the bot can read it; raise a clear error if not."""
    try:
        client.canvases_sections_lookup(canvas_id=canvas_id, criteria={"section_types": ["h1"]})
    except SlackApiError as exc:
        error = _error(exc)
        if error in _MISSING:
            raise ConfigError(
                [
                    f"SLACK_CANVAS_ID {canvas_id}: no such canvas ({error}). Use the id of an "
                    "existing canvas the bot can edit (F…), or unset it and set SLACK_CHANNEL_ID "
                    "to have a channel canvas created"
                ]
            ) from exc
        raise CanvasError(f"cannot check canvas {canvas_id}: Slack answered {error}") from exc
    except (SlackClientError, OSError) as exc:
        raise CanvasError(f"cannot check canvas {canvas_id}: {exc}") from exc


def resolve_canvas(
    client: WebClient,
    service: StatusService,
    *,
    canvas_id: str | None,
    channel_id: str | None,
    title: str,
    markdown: str,
) -> ResolvedCanvas:
    """The canvas to maintain: the configured one, or the channel canvas (created if need be)."""
    if canvas_id:
        check_canvas(client, canvas_id)
        return ResolvedCanvas(canvas_id)
    if not channel_id:
        raise ConfigError(["SLACK_CANVAS_ID or SLACK_CHANNEL_ID is required (where the board is)"])
    stored = service.meta(CANVAS_META) or {}
    if stored.get("channel_id") == channel_id and stored.get("id"):
        try:
            check_canvas(client, stored["id"])
        except ConfigError:
            logger.warning(
                "the channel canvas %s of %s is gone; creating a new one", stored["id"], channel_id
            )
        else:
            return ResolvedCanvas(stored["id"])
    resolved = _create_channel_canvas(client, channel_id, title, markdown)
    service.set_meta(CANVAS_META, {"id": resolved.canvas_id, "channel_id": channel_id})
    return resolved


def _create_channel_canvas(
    client: WebClient, channel_id: str, title: str, markdown: str
) -> ResolvedCanvas:
    try:
        response = client.conversations_canvases_create(
            channel_id=channel_id,
            title=title,
            document_content={"type": "markdown", "markdown": markdown},
        )
    except SlackApiError as exc:
        if _error(exc) != "channel_canvas_already_exists":
            raise CanvasError(
                f"cannot create the channel canvas of {channel_id}: Slack answered {_error(exc)}"
            ) from exc
        existing = _existing_channel_canvas(client, channel_id)
        logger.info("reusing the existing channel canvas %s of %s", existing, channel_id)
        return ResolvedCanvas(existing)
    except (SlackClientError, OSError) as exc:
        raise CanvasError(f"cannot create the channel canvas of {channel_id}: {exc}") from exc
    canvas_id = response.get("canvas_id")
    if not isinstance(canvas_id, str) or not canvas_id:
        raise CanvasError(f"Slack created a channel canvas for {channel_id} but sent no id")
    logger.info("created the channel canvas %s of %s", canvas_id, channel_id)
    return ResolvedCanvas(canvas_id, created_with=digest(markdown))


def _existing_channel_canvas(client: WebClient, channel_id: str) -> str:
    try:
        response = client.conversations_info(channel=channel_id)
    except (SlackClientError, OSError) as exc:
        raise CanvasError(f"cannot read channel {channel_id}: {exc}") from exc
    channel = response.get("channel") or {}
    canvas = (channel.get("properties") or {}).get("canvas") or {}
    file_id = canvas.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        raise CanvasError(
            f"channel {channel_id} already has a canvas but Slack did not say which; "
            "set SLACK_CANVAS_ID to its id"
        )
    return file_id


def _error(exc: SlackApiError) -> str:
    response = exc.response
    error = response.get("error") if response is not None else None
    return str(error or f"HTTP {getattr(response, 'status_code', '?')}")
