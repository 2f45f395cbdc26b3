"""Threads asking for the board at once share one read that started after they asked."""

from __future__ import annotations

import threading

from bot.store.shared_read import SharedRead
from tests.conftest import wait_until


class _GatedReads:
    """Numbered reads; the first one waits until the test opens the gate."""

    def __init__(self) -> None:
        self.count = 0
        self.started = threading.Event()
        self.gate = threading.Event()
        self.fail = False

    def __call__(self) -> int:
        self.count += 1
        if self.count == 1:
            self.started.set()
            self.gate.wait(10)
        if self.fail:
            raise OSError(f"read {self.count} failed")
        return self.count


def _ask(shared: SharedRead[int], answers: list[object]) -> threading.Thread:
    def run() -> None:
        try:
            answers.append(shared.get())
        except OSError as exc:
            answers.append(str(exc))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_callers_during_a_read_share_the_next_one_not_the_one_under_way() -> None:
    """Three calls made while read 1 runs all get read 2: one query, and none older."""
    reads = _GatedReads()
    shared = SharedRead(reads)
    first: list[object] = []
    others: list[object] = []
    threads = [_ask(shared, first)]
    assert reads.started.wait(5)
    threads += [_ask(shared, others) for _ in range(3)]
    wait_until(lambda: shared.queued == 3, "three calls queued behind the read")
    reads.gate.set()
    for thread in threads:
        thread.join(5)
    assert first == [1]
    assert others == [2, 2, 2]
    assert reads.count == 2


def test_a_failed_read_fails_every_call_that_shared_it() -> None:
    """The error reaches each caller of that read; the next call reads afresh."""
    reads = _GatedReads()
    shared = SharedRead(reads)
    answers: list[object] = []
    threads = [_ask(shared, answers)]
    assert reads.started.wait(5)
    threads += [_ask(shared, answers) for _ in range(2)]
    wait_until(lambda: shared.queued == 2, "two calls queued behind the read")
    reads.fail = True
    reads.gate.set()
    for thread in threads:
        thread.join(5)
    assert sorted(map(str, answers)) == ["read 1 failed", "read 2 failed", "read 2 failed"]
    reads.fail = False
    assert shared.get() == 3


def test_a_lone_call_reads_once() -> None:
    """Without company, every call is a read of its own."""
    reads = _GatedReads()
    reads.gate.set()
    shared = SharedRead(reads)
    assert [shared.get(), shared.get()] == [1, 2]
    assert shared.queued == 0
