"""The EPM part inside a runtime: scheduled polling, restarts, token refreshes, health."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bot.config import Config
from bot.epm.part import POLL_JOB, TOKEN_JOB, EpmPart
from bot.epm.tracking import track
from bot.model import Status
from bot.runtime import Runtime
from bot.sandbox.epm import EpmSandbox, script
from tests.conftest import wait_until
from tests.epm.conftest import MakeEstate, server_doc

StartRuntime = Callable[[Config], tuple[Runtime, EpmPart]]


@pytest.fixture
def start_runtime() -> Iterator[StartRuntime]:
    """Start a runtime whose only part is the EPM part; stopped after the test."""
    running: list[Runtime] = []

    def start(config: Config) -> tuple[Runtime, EpmPart]:
        runtime = Runtime(config)
        part = EpmPart.from_runtime(runtime)
        runtime.add(part)
        runtime.start()
        running.append(runtime)
        return runtime, part

    yield start
    for runtime in running:
        if runtime.scheduler.running:
            runtime.stop()


def test_tracked_jobs_survive_a_restart_and_polling_resumes(
    epm: EpmSandbox, make_estate: MakeEstate, start_runtime: StartRuntime
) -> None:
    """A job tracked before a restart is polled at once by the next process and resolves."""
    epm.add_job("planning", 42, script("ok", running=1), details="Loaded")
    config = make_estate({"planning": server_doc(epm)}, EPMPULSE_POLL_INTERVAL_SECONDS="3600")
    runtime, part = start_runtime(config)
    # The cycle run on start, before tracking.
    wait_until(lambda: part.poller.last is not None, "the first cycle", timeout=10)
    track(runtime.service, "Planning", "Actuals", "42", by="slack:U1")
    assert part.poller.run_cycle() is not None
    assert epm.job_polls("planning", 42) == 1
    runtime.stop()
    assert runtime.service.get("Planning", "Actuals").status is Status.LOADING

    restarted, _ = start_runtime(config)  # its first cycle runs on start, not in an hour
    wait_until(
        lambda: restarted.service.get("Planning", "Actuals").status is Status.OK,
        "Actuals OK after the restart",
        timeout=10,
    )
    record = restarted.service.get("Planning", "Actuals")
    assert (record.message, record.jobs, record.updated_by) == ("Loaded", (), "epm:planning")
    assert epm.job_polls("planning", 42) == 2


def test_scheduled_cycles_never_overlap_yet_poll_in_parallel(
    epm: EpmSandbox, make_estate: MakeEstate, start_runtime: StartRuntime
) -> None:
    """Interval 0.1 s, polls of 0.4 s: 3 jobs overlap within a cycle, never across cycles."""
    epm.set_latency(0.4)
    for job in range(3):
        epm.add_job("planning", job, "running")
    config = make_estate({"planning": server_doc(epm)}, EPMPULSE_POLL_INTERVAL_SECONDS="0.1")
    runtime, part = start_runtime(config)
    for job, domain in enumerate(("Actuals", "Forecast", "Budget")):
        track(runtime.service, "Planning", domain, str(job), by="slack:U1")
    wait_until(
        lambda: min(epm.job_polls("planning", j) for j in range(3)) >= 3,
        "three polls of each job",
        timeout=10,
    )
    runtime.stop()
    assert 2 <= epm.max_concurrency() <= 3
    assert part.poller.last is not None


def test_oauth_tokens_are_fetched_ahead_by_their_own_job(
    epm: EpmSandbox, make_estate: MakeEstate, start_runtime: StartRuntime
) -> None:
    """With an OAuth server, a token job warms the token before any poll needs it."""
    config = make_estate({"planning": server_doc(epm, auth="oauth_client_credentials")})
    runtime, part = start_runtime(config)
    assert {job.id for job in runtime.scheduler.get_jobs()} >= {POLL_JOB, TOKEN_JOB}
    wait_until(lambda: len(epm.requests("/oauth2")) == 1, "one token request", timeout=10)
    assert part.health().ok


def test_basic_only_estates_schedule_no_token_job(
    epm: EpmSandbox, make_estate: MakeEstate, start_runtime: StartRuntime
) -> None:
    """Basic credentials never expire, so only the poll job is scheduled."""
    runtime, _ = start_runtime(make_estate({"planning": server_doc(epm)}))
    ids = {job.id for job in runtime.scheduler.get_jobs()}
    assert POLL_JOB in ids and TOKEN_JOB not in ids


def test_health_fails_while_a_token_cannot_be_refreshed(
    epm: EpmSandbox, make_estate: MakeEstate, start_runtime: StartRuntime
) -> None:
    """A refused client secret shows up in the part's health check."""
    doc = server_doc(epm, auth="oauth_client_credentials")
    doc["auth"]["client_secret"] = "not-the-secret"
    _, part = start_runtime(make_estate({"planning": doc}))
    wait_until(lambda: not part.health().ok, "the part reports the failure", timeout=10)
    assert "token refresh failed" in part.health().detail
    assert "not-the-secret" not in part.health().detail


def test_health_reports_the_last_cycle(
    epm: EpmSandbox, make_estate: MakeEstate, start_runtime: StartRuntime
) -> None:
    """After a cycle, health says how many servers and jobs the last poll covered."""
    _, part = start_runtime(make_estate({"planning": server_doc(epm)}))
    wait_until(lambda: part.poller.last is not None, "a cycle", timeout=10)
    check = part.health()
    assert check.ok and "1 server(s); last poll" in check.detail


def test_an_estate_without_servers_still_runs_the_stale_rule(
    make_config: Callable[..., Config], start_runtime: StartRuntime
) -> None:
    """No EPM servers: the part runs, healthy, and still checks for stale loads."""
    _, part = start_runtime(make_config())
    wait_until(lambda: part.poller.last is not None, "a cycle", timeout=10)
    assert part.health().ok and "no EPM servers" in part.health().detail
