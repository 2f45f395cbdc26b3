"""The leader's lease and epoch (SPEC §15): when a leader may act, and whose writes count.

- :class:`Lease` — a leader acts only while its lease is fresh: no later than its last
  confirmed heartbeat plus a third of the leader timeout. Leadership renews it on every
  confirmed beat and ends it the moment a beat fails. Every Slack post, canvas edit and
  EPM start of a leader-only part is checked against it just before it is sent
  (:meth:`Lease.check`).
- The **epoch** — each gain of leadership takes a new, larger number kept with the board
  (:func:`claim_epoch`). The bookkeeping writes of leader-only parts (publish state,
  alert cursor, overdue-alert claims) go through :meth:`Lease.fenced`, so the store
  refuses them once a newer leader has claimed a later epoch (:class:`FencedError`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from bot.errors import StoreError
from bot.store import Store, WorkingState
from bot.store.base import Mutation

EPOCH_META = "leader.epoch"
T = TypeVar("T")


class LeaseLostError(RuntimeError):
    """This instance no longer holds a fresh lease: the side effect was not sent."""


class FencedError(StoreError):
    """A newer leader has claimed a later epoch: this leader's write was refused."""


class Lease:
    """Whether this instance may act as the leader right now, and under which epoch."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._until = -math.inf
        self.epoch = 0
        # Set by leadership: give leadership up (a part found that a newer leader exists).
        self.on_lost: Callable[[str], None] | None = None

    @classmethod
    def held(cls) -> Lease:
        """A lease that holds until ended (a single instance; tests)."""
        lease = cls()
        lease.hold_forever()
        return lease

    def renew(self, until: float) -> None:
        """Extend the lease to ``until`` (a time of this lease's clock); never shortens it."""
        with self._lock:
            self._until = max(self._until, until)

    def hold_forever(self) -> None:
        """A lease without a heartbeat: the only instance there is (JSON store)."""
        self.renew(math.inf)

    def end(self) -> None:
        """End the lease at once (leadership lost or given up)."""
        with self._lock:
            self._until = -math.inf

    @property
    def expires_at(self) -> float:
        """When the lease runs out (this lease's clock); -inf once ended."""
        with self._lock:
            return self._until

    @property
    def fresh(self) -> bool:
        """Whether the lease still holds."""
        return self.remaining() > 0

    def remaining(self) -> float:
        """Seconds the lease still holds (0 once it ran out or ended)."""
        with self._lock:
            return max(0.0, self._until - self._clock())

    def lost(self, why: str) -> None:
        """A part learnt that this instance no longer leads: end the lease, step down."""
        self.end()
        if self.on_lost is not None:
            self.on_lost(why)

    def check(self, what: str) -> None:
        """Raise :class:`LeaseLostError` unless the lease holds (call just before ``what``)."""
        if not self.fresh:
            raise LeaseLostError(f"not sent: {what}; this instance no longer leads")

    def fenced(self, mutation: Mutation[T]) -> Mutation[T]:
        """``mutation``, refused with :class:`FencedError` once a later epoch was claimed."""
        epoch = self.epoch

        def run(work: WorkingState) -> T:
            current = work.meta.get(EPOCH_META, 0)
            if current != epoch:
                raise FencedError(
                    f"leader epoch {epoch} is over (epoch {current} leads); write refused"
                )
            return mutation(work)

        return run


def claim_epoch(store: Store) -> int:
    """Take the next epoch in one commit and return it."""

    def bump(work: WorkingState) -> int:
        epoch = int(work.meta.get(EPOCH_META, 0)) + 1
        work.put_meta(EPOCH_META, epoch)
        return epoch

    return store.commit(bump)
