"""One chat.postMessage from a leader-only part, and what its failure means.

Alert delivery, overdue alerts and the sign-off outbox post through :func:`post_message`
(and are :class:`Sender` s), so all classify Slack's answers the same way:

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
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.lease import FencedError, Lease, LeaseLostError
from bot.slack.client import WEB_API_ERRORS, retry_after

logger = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0

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


class Outcome(StrEnum):
    """What became of one post."""

    SENT = "sent"
    REFUSED = "refused"
    FAILED = "failed"
    NO_LEASE = "no_lease"


@dataclass(frozen=True)
class Posted:
    """The outcome of one post; for a failure, why, and how long Slack asked to wait."""

    outcome: Outcome
    error: str | None = None
    retry_after: float = 0.0
    ts: str | None = None  # the posted message's timestamp (to update it later)


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


# Posts one message to one channel: ``post(text, blocks=..., what=...)``.
Post = Callable[..., Posted]


def poster(client: WebClient | None, channel: str | None) -> Post | None:
    """:func:`post_message` to ``channel`` through ``client``; None when either is missing."""
    return partial(post_message, client, channel) if client is not None and channel else None


class Sender:
    """What the leader's senders share: the lease they post under, and halting for good.

    A sender posts through the leader's leased client and records each post in a commit
    fenced by the leader's epoch; a lost lease or a refused record halts it.
    """

    what = "posts"  # names the sender in its log lines

    def __init__(self, lease: Lease | None) -> None:
        self._lease = lease if lease is not None else Lease.held()
        self._halted = False
        self.last_error: str | None = None

    def halt(self) -> None:
        """Post nothing more (leadership lost); a run under way stops before its next post."""
        self._halted = True

    def _fenced_out(self, exc: FencedError) -> bool:
        """A newer leader's epoch refused a record: stop for good. Always False."""
        logger.warning("%s stop: %s", self.what, exc)
        self.halt()
        self._lease.lost(str(exc))
        return False

    def _went_out(self, result: Posted) -> bool:
        """Whether a run may go on after ``result``: sent, or refused for good (logged)."""
        if result.outcome is Outcome.NO_LEASE:
            self.halt()
            return False
        if result.outcome is Outcome.FAILED:
            self.last_error = result.error
            return False
        return True


class Backoff:
    """Consecutive failures and the time before which no new attempt is made.

    The n-th failure in a row waits ``first * 2^(n-1)`` seconds, at most
    :data:`MAX_BACKOFF_SECONDS`, or longer when the other side asked for more. Not
    thread-safe: a caller shared between threads holds its own lock around it.
    """

    def __init__(self, clock: Callable[[], float], first: float = FIRST_BACKOFF_SECONDS) -> None:
        self._clock = clock
        self._first = first
        self.failures = 0
        self.retry_at = 0.0

    @property
    def waiting(self) -> bool:
        """Whether the next attempt must wait."""
        return self._clock() < self.retry_at

    def failed(self, at_least: float = 0.0) -> float:
        """Count a failure; returns the seconds until the next attempt (doubling, capped)."""
        self.failures += 1
        wait = min(MAX_BACKOFF_SECONDS, self._first * 2 ** (self.failures - 1))
        wait = max(wait, at_least)
        self.retry_at = self._clock() + wait
        return wait

    def hold(self, seconds: float) -> None:
        """Make no attempt for ``seconds`` (a rate limit), without counting a failure."""
        self.retry_at = self._clock() + seconds

    def remaining(self) -> float:
        """Seconds until the next attempt may be made (0 when it may be made now)."""
        return max(0.0, self.retry_at - self._clock())

    def succeeded(self) -> None:
        """Reset after a success."""
        self.failures = 0
        self.retry_at = 0.0


def _final(exc: Exception) -> bool:
    if not isinstance(exc, SlackApiError) or exc.response is None:
        return False
    return exc.response.get("error") in FINAL_ERRORS
