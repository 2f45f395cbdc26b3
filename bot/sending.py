"""What the leader's senders share, without knowing Slack: outcomes, fencing, back-off.

A sender (alert delivery, overdue alerts, the conductor, the sign-off outbox) posts
through a :data:`Post` the runtime hands it (:func:`bot.slack.posting.poster`) and
records each post in a commit fenced by the leader's epoch. This module is the core's
side of that: what became of a post, when a sender halts, and how long it waits after a
failure. It imports nothing of Slack, so the close's core can use it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.lease import FencedError, Lease

logger = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0


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


# Posts one message to one channel: ``post(text, blocks=..., what=...)``.
Post = Callable[..., Posted]


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

    def succeeded(self) -> None:
        """Reset after a success."""
        self.failures = 0
        self.retry_at = 0.0
