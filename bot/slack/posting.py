"""One chat.postMessage from a leader-only part, and what its failure means.

Alert delivery, overdue alerts, the conductor and the sign-off outbox post through
:func:`post_message` (they are :class:`~bot.sending.Sender` s, handed a
:data:`~bot.sending.Post` by :func:`poster`), so all classify Slack's answers the same way:

- **sent**;
- **refused** for good (:data:`FINAL_ERRORS`: an archived channel, a deleted user…):
  logged and passed, or it would block every later post;
- **failed** for now (network, 429, 5xx, a revoked token): retried with back-off,
  honouring ``Retry-After``, and nothing after it is skipped;
- **no lease**: this instance no longer leads (:class:`~bot.lease.LeaseLostError`);
  nothing was sent and the part stops.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.lease import LeaseLostError
from bot.sending import Outcome, Post, Posted
from bot.slack.client import WEB_API_ERRORS, retry_after

logger = logging.getLogger(__name__)

# Refusals that concern this one post and that no retry can change. Anything else (a
# revoked token, Slack's own internal_error, a timeout) is retried with back-off.
FINAL_ERRORS = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "cannot_dm_bot",
        "user_not_found",
        "user_disabled",
        "messages_tab_disabled",
        "restricted_action",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_blocks_format",
    }
)


def post_message(
    client: WebClient, channel: str, text: str, *, blocks: Any = None, what: str
) -> Posted:
    """Post once to ``channel``; every failure is logged (with its traceback) and classified."""
    try:
        response = client.chat_postMessage(channel=channel, text=text, blocks=blocks)
    except LeaseLostError:
        logger.info("%s to %s not posted: this instance no longer leads", what, channel)
        return Posted(Outcome.NO_LEASE)
    except WEB_API_ERRORS as exc:
        error = f"{type(exc).__name__}: {exc}"
        if _final(exc):
            logger.exception(
                "could not post %s to %s; Slack refuses it for good, so it is passed",
                what,
                channel,
            )
            return Posted(Outcome.REFUSED, error)
        logger.exception("could not post %s to %s; it will be retried", what, channel)
        return Posted(Outcome.FAILED, error, retry_after(exc, default=0.0) or 0.0)
    logger.info("posted %s to %s", what, channel)
    ts = response.get("ts")
    return Posted(Outcome.SENT, ts=ts if isinstance(ts, str) else None)


def poster(client: WebClient | None, channel: str | None) -> Post | None:
    """:func:`post_message` to ``channel`` through ``client``; None when either is missing."""
    return partial(post_message, client, channel) if client is not None and channel else None


def _final(exc: Exception) -> bool:
    if not isinstance(exc, SlackApiError) or exc.response is None:
        return False
    return exc.response.get("error") in FINAL_ERRORS
