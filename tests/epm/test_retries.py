"""Network errors, 429 and 5xx are retried with back-off, honouring Retry-After, bounded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from urllib3 import HTTPResponse

from bot.epm.client import MAX_RETRY_AFTER, RETRIES, CappedRetry, EpmClient
from bot.errors import EpmError
from bot.sandbox.epm import EpmSandbox
from tests.epm.conftest import server

JOB = "/aif/rest/V1/jobs/"
TOKEN = "/oauth2/v1/token"


@pytest.mark.parametrize("status", [503, 429])
def test_a_failure_with_retry_after_is_retried_by_a_policy_that_honours_the_header(
    epm: EpmSandbox, make_client: Callable[..., EpmClient], status: int
) -> None:
    """Two answers with Retry-After are retried, then the job's status arrives; the wait
    itself is urllib3's, which the client's policy tells to honour the header."""
    epm.add_job("data_integration", 5, "ok")
    epm.inject(JOB, status, times=2, retry_after=0)
    client = make_client("di", server(epm, "data_integration"))
    assert client.job_status("5").finished
    assert [r.status for r in epm.requests(JOB)] == [status, status, 200]
    policy = client.session.get_adapter(client.job_url("5")).max_retries
    assert isinstance(policy, CappedRetry) and policy.respect_retry_after_header
    refused = HTTPResponse(status=status, headers={"Retry-After": "7"})
    assert policy.is_retry("GET", status, has_retry_after=True)
    assert policy.get_retry_after(refused) == 7


def test_failures_beyond_the_retry_budget_are_a_transient_error(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """A server that keeps answering 500 costs RETRIES + 1 requests, then a transient error."""
    epm.add_job("data_integration", 5, "ok")
    epm.inject(JOB, 500, times=10)
    with pytest.raises(EpmError) as caught:
        make_client("di", server(epm, "data_integration")).job_status("5")
    assert not caught.value.permanent and caught.value.status_code == 500
    assert len(epm.requests(JOB)) == RETRIES + 1


def test_a_dropped_connection_is_retried(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """A connection closed without an answer is a network error: retried, then answered."""
    epm.add_job("data_integration", 5, "ok")
    epm.drop_connections(JOB, times=1)
    assert make_client("di", server(epm, "data_integration")).job_status("5").finished
    assert [r.status for r in epm.requests(JOB)] == [0, 200]


def test_an_unreachable_server_is_a_transient_error(
    make_client: Callable[..., EpmClient],
) -> None:
    """Nobody listening: connection errors are retried, then reported as transient."""
    sandbox = EpmSandbox()
    sandbox.start()
    config = server(sandbox, "arcs")
    sandbox.stop()
    with pytest.raises(EpmError) as caught:
        make_client("a", config).job_status("1")
    assert not caught.value.permanent
    assert "unreachable" in str(caught.value)


def test_a_slow_server_hits_the_read_timeout(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """Every request has a read timeout, retried once: a hung server ends in a transient error."""
    from bot.estate import EpmServer
    from tests.epm.conftest import server_doc

    epm.add_job("arcs", 1, "ok")
    epm.set_latency(3.0, "/armARCS")
    config = EpmServer.model_validate(server_doc(epm, "arcs", timeout_seconds=0.2))
    with pytest.raises(EpmError) as caught:
        make_client("a", config).job_status("1")
    assert not caught.value.permanent
    # Two attempts, no more: each is still waiting out its latency, or logged if done.
    assert epm.in_flight() + len(epm.requests("/armARCS")) == 2


def test_the_token_endpoint_is_retried_on_503_and_the_refresh_token_survives(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """A 503 from the token endpoint did not spend the refresh token, so it is retried."""
    epm.add_job("data_integration", 5, "ok")
    epm.inject(TOKEN, 503, times=1, retry_after=0)
    client = make_client("di", server(epm, "data_integration", "oauth_refresh_token"))
    assert client.job_status("5").finished
    assert [r.status for r in epm.requests(TOKEN)] == [503, 200]


def test_the_token_endpoint_is_not_retried_on_500(
    epm: EpmSandbox, make_client: Callable[..., EpmClient]
) -> None:
    """A 500 may have spent a rotating refresh token: no blind retry, a transient error."""
    epm.inject(TOKEN, 500, times=1)
    client = make_client("di", server(epm, "data_integration", "oauth_refresh_token"))
    with pytest.raises(EpmError) as caught:
        client.auth.header()
    assert not caught.value.permanent
    assert len(epm.requests(TOKEN)) == 1


def test_a_huge_retry_after_is_capped() -> None:
    """One Retry-After cannot stall a poll for hours."""
    assert CappedRetry().parse_retry_after("86400") == MAX_RETRY_AFTER
    assert CappedRetry().parse_retry_after("2") == 2
