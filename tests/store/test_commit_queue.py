"""Group commit: threads that queue while a batch runs share the next one."""

from __future__ import annotations

import threading

from bot.store.base import WorkingState
from bot.store.commit_queue import GroupCommit, Pending
from tests.conftest import wait_until


def test_mutations_queued_during_a_batch_share_the_next_one() -> None:
    """One slow batch, 15 threads queue meanwhile: they all go in one second batch."""
    commits = GroupCommit()
    batches: list[int] = []
    release = threading.Event()

    def run_batch(batch: list[Pending]) -> None:
        batches.append(len(batch))
        for pending in batch:
            pending.result = pending.mutation(WorkingState(0, {}, {}))
            pending.done.set()

    def slow(work: WorkingState) -> str:
        release.wait(timeout=10)
        return "first"

    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(commits.submit(slow, run_batch)))
    first.start()
    wait_until(lambda: batches == [1], "the first batch to start")
    others = [
        threading.Thread(
            target=lambda n=n: results.append(commits.submit(lambda w: f"t{n}", run_batch))
        )
        for n in range(15)
    ]
    for thread in others:
        thread.start()
    wait_until(lambda: commits.queued == 15, "15 queued mutations")
    release.set()
    for thread in [first, *others]:
        thread.join(timeout=10)
    assert batches == [1, 15]
    assert sorted(results) == sorted(["first", *(f"t{n}" for n in range(15))])


def test_an_error_is_raised_in_the_thread_whose_mutation_failed() -> None:
    """A batch hands each mutation's error back to its own caller only."""
    commits = GroupCommit()

    def run_batch(batch: list[Pending]) -> None:
        for pending in batch:
            try:
                pending.result = pending.mutation(WorkingState(0, {}, {}))
            except ValueError as exc:
                pending.error = exc
            pending.done.set()

    def bad(work: WorkingState) -> None:
        raise ValueError("bad input")

    try:
        commits.submit(bad, run_batch)
    except ValueError as exc:
        assert str(exc) == "bad input"
    else:
        raise AssertionError("the error was not raised")
    assert commits.submit(lambda work: 7, run_batch) == 7
