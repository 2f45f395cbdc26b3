"""The parts' scheduling helpers: the wake-up Alarm and the shared Backoff."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from bot.schedule import Alarm
from bot.sending import MAX_BACKOFF_SECONDS, Backoff
from tests.conftest import FakeClock

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    """A started but paused scheduler: it keeps jobs and never runs them."""
    held = BackgroundScheduler(timezone=UTC)
    held.start(paused=True)
    yield held
    held.shutdown(wait=False)


def test_an_alarm_arms_nothing_until_enabled_and_nothing_after_a_disarm(
    scheduler: BackgroundScheduler,
) -> None:
    """A tick still under way when its part stops cannot arm the wake-up again."""
    alarm = Alarm(scheduler, "wake", lambda: None, lambda: NOW)
    alarm.arm(NOW + timedelta(hours=1))
    assert scheduler.get_job("wake") is None and alarm.next_wake is None
    alarm.enable()
    alarm.arm(NOW + timedelta(hours=1))
    assert scheduler.get_job("wake") is not None
    assert alarm.next_wake == NOW + timedelta(hours=1)
    alarm.disarm()
    assert scheduler.get_job("wake") is None
    alarm.arm(NOW + timedelta(hours=2))
    assert scheduler.get_job("wake") is None
    assert alarm.next_wake == NOW + timedelta(hours=1)


def test_an_alarm_re_armed_replaces_its_moment_and_says_so_in_its_health(
    scheduler: BackgroundScheduler,
) -> None:
    """One job per alarm; the health names the next wake-up, or the error when there is one."""
    alarm = Alarm(scheduler, "wake", lambda: None, lambda: NOW)
    assert alarm.health(None, "not armed").detail == "next wake-up not armed"
    alarm.enable()
    alarm.arm(NOW + timedelta(hours=3))
    alarm.arm(NOW + timedelta(minutes=5))
    assert [job.id for job in scheduler.get_jobs()] == ["wake"]
    check = alarm.health(None, "not armed", "2 start(s); ")
    assert check.ok
    assert check.detail == f"2 start(s); next wake-up {(NOW + timedelta(minutes=5)).isoformat()}"
    failing = alarm.health("tick failed", "not armed")
    assert not failing.ok and failing.detail == "tick failed"


def test_the_back_off_doubles_up_to_a_minute_and_a_success_resets_it() -> None:
    """1, 2, 4 … seconds after consecutive failures, never more than MAX_BACKOFF_SECONDS."""
    clock = FakeClock()
    backoff = Backoff(clock, first=1.0)
    waits = [backoff.failed() for _ in range(8)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, MAX_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS]
    assert backoff.failures == 8 and backoff.waiting
    clock.advance(MAX_BACKOFF_SECONDS)
    assert not backoff.waiting
    backoff.succeeded()
    assert backoff.failures == 0 and backoff.failed() == 1.0


def test_a_rate_limit_holds_the_next_attempt_without_counting_a_failure() -> None:
    """Retry-After waits as asked, also beyond the back-off's cap; failures stay as they were."""
    clock = FakeClock()
    backoff = Backoff(clock, first=1.0)
    backoff.hold(120.0)
    assert backoff.failures == 0 and backoff.retry_at == clock() + 120.0
    clock.advance(119.0)
    assert backoff.waiting and backoff.retry_at == clock() + 1.0
    assert backoff.failed(at_least=30.0) == 30.0  # a failure asking for longer waits longer
    clock.advance(30.0)
    assert backoff.retry_at == clock() and not backoff.waiting
