"""Which canvas to maintain, decided once at start-up (SPEC §3, §5).

- ``SLACK_CANVAS_ID`` given: the canvas is checked with a harmless
  ``canvases.sections.lookup``; a canvas that does not exist stops start-up with a
  clear message (no placeholder ids, ever). Where that method is not available (an
  emulator or workspace answering ``unknown_method``, HTTP 404, ``not_allowed_token_type``,
  ``missing_scope``…) the first publish is the check instead: start-up replaces the
  document with the board, and ``canvas_not_found`` there stops start-up the same way.
- Only ``SLACK_CHANNEL_ID`` given: the channel canvas is created once with
  ``conversations.canvases.create`` (already holding the board) and its id is kept in
  the store's meta; later starts reuse it. When the channel already has a canvas its
  id is read from ``conversations.info`` (``channel.properties.canvas.file_id``).
  A remembered canvas that is gone is created again; one that merely cannot be checked
  is used as it is (a restart never fails because of the check method).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.canvas.publisher import replace_document
from bot.canvas.render import digest
from bot.errors import CanvasError, ConfigError
from bot.service import StatusService

logger = logging.getLogger(__name__)

CANVAS_META = "canvas"
_MISSING = frozenset({"canvas_not_found", "canvas_deleted", "file_not_found", "file_deleted"})
LOOKUP = "canvases.sections.lookup"
# Answers meaning the lookup method itself cannot be used here, not that the canvas is
# missing: a Slack-compatible emulator without it, or a token without canvases:read.
_LOOKUP_UNAVAILABLE = frozenset(
    {
        "unknown_method",
        "method_not_supported",
        "method_deprecated",
        "not_implemented",
        "not_allowed_token_type",
        "missing_scope",
    }
)
_UNAVAILABLE_STATUS = frozenset({404, 405, 410, 501})


@dataclass(frozen=True)
class ResolvedCanvas:
    """The canvas to maintain; ``published_with`` is the hash of the content it now holds.

    ``published_with`` is set when start-up itself wrote the board (a created channel
    canvas, or the publish that checked the canvas), so it is not sent twice.
    """

    canvas_id: str
    published_with: str | None = None


def check_canvas(client: WebClient, canvas_id: str) -> None:
    """Make sure ``canvas_id`` exists, without changing it; raise a clear error if not.

    Raises ConfigError when the canvas does not exist, CanvasError when it cannot be
    checked (including when Slack does not offer the lookup method).
    """
    unavailable = _lookup(client, canvas_id)
    if unavailable is not None:
        raise CanvasError(
            f"cannot check canvas {canvas_id}: {LOOKUP} is not available ({unavailable}); "
            "`epmpulse run` checks the canvas with its first publish instead"
        )


def verify_canvas(client: WebClient, canvas_id: str, markdown: str) -> str | None:
    """Check ``canvas_id`` at start-up, publishing ``markdown`` when the lookup is unavailable.

    Returns the hash of ``markdown`` when it was published, else None. Raises ConfigError
    when the canvas does not exist and CanvasError when it cannot be checked.
    """
    unavailable = _lookup(client, canvas_id)
    if unavailable is None:
        return None
    logger.info(
        "%s is not available (%s); checking canvas %s with its first publish",
        LOOKUP,
        unavailable,
        canvas_id,
    )
    try:
        replace_document(client, canvas_id, markdown)
    except SlackApiError as exc:
        raise _not_checked(canvas_id, f"canvases.edit answered {_error(exc)}", exc) from exc
    except (SlackClientError, OSError) as exc:
        raise CanvasError(f"cannot check canvas {canvas_id}: {exc}") from exc
    return digest(markdown)


def _lookup(client: WebClient, canvas_id: str) -> str | None:
    """None when the canvas exists; why, when the lookup method cannot be used."""
    try:
        client.canvases_sections_lookup(canvas_id=canvas_id, criteria={"section_types": ["h1"]})
    except SlackApiError as exc:
        if _method_unavailable(exc):
            return _error(exc)
        raise _not_checked(canvas_id, f"Slack answered {_error(exc)}", exc) from exc
    except (SlackClientError, OSError) as exc:
        raise CanvasError(f"cannot check canvas {canvas_id}: {exc}") from exc
    return None


def _not_checked(canvas_id: str, why: str, exc: SlackApiError) -> ConfigError | CanvasError:
    """ConfigError when Slack says the canvas does not exist, else CanvasError."""
    error = _error(exc)
    if error in _MISSING:
        return ConfigError(
            [
                f"SLACK_CANVAS_ID {canvas_id}: no such canvas ({error}). Use the id of an "
                "existing canvas the bot can edit (F…), or unset it and set SLACK_CHANNEL_ID "
                "to have a channel canvas created"
            ]
        )
    return CanvasError(f"cannot check canvas {canvas_id}: {why}")


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
        return ResolvedCanvas(canvas_id, verify_canvas(client, canvas_id, markdown))
    if not channel_id:
        raise ConfigError(["SLACK_CANVAS_ID or SLACK_CHANNEL_ID is required (where the board is)"])
    stored = service.meta(CANVAS_META) or {}
    if stored.get("channel_id") == channel_id and stored.get("id"):
        try:
            published = verify_canvas(client, stored["id"], markdown)
        except ConfigError:
            logger.warning(
                "the channel canvas %s of %s is gone; creating a new one", stored["id"], channel_id
            )
        except CanvasError as exc:
            # Only a canvas Slack reports missing is replaced; publishing reports the rest.
            logger.warning("%s; using the remembered channel canvas of %s", exc, channel_id)
            return ResolvedCanvas(stored["id"])
        else:
            return ResolvedCanvas(stored["id"], published)
    resolved = _create_channel_canvas(client, channel_id, title, markdown)
    service.set_meta(CANVAS_META, {"id": resolved.canvas_id, "channel_id": channel_id})
    return resolved


# Slack's answers when the channel is wrong or the bot may not see it.
_NO_CHANNEL = frozenset({"channel_not_found", "not_in_channel", "is_archived"})


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
        if _error(exc) in _NO_CHANNEL:
            raise ConfigError(
                [
                    f"SLACK_CHANNEL_ID {channel_id}: Slack answered {_error(exc)}. Use the "
                    "channel's id (C…: channel details, at the bottom of the About tab) and "
                    "invite the bot to a private channel (/invite @EPMPulse)"
                ]
            ) from exc
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
    return ResolvedCanvas(canvas_id, published_with=digest(markdown))


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


def _method_unavailable(exc: SlackApiError) -> bool:
    response = exc.response
    status = getattr(response, "status_code", None)
    return status in _UNAVAILABLE_STATUS or _error(exc) in _LOOKUP_UNAVAILABLE


def _error(exc: SlackApiError) -> str:
    response = exc.response
    error = response.get("error") if response is not None else None
    return str(error or f"HTTP {getattr(response, 'status_code', '?')}")
