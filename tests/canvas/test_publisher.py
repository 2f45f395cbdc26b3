"""The publisher keeps the sandbox canvas equal to the board, with as few calls as possible.

Flushes are driven by hand on a fake clock; the calls go through a real WebClient to the
Slack sandbox, which records them and injects 429s and 5xx on request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.canvas.publisher import PUBLISHED_META, FlushResult
from bot.canvas.render import digest
from bot.config import Config
from bot.metrics import Metrics
from bot.model import Status, Update
from bot.sandbox.slack import SlackSandbox
from bot.sending import MAX_BACKOFF_SECONDS
from bot.service import StatusService
from bot.store import JsonStore
from tests.canvas.conftest import FakeClock, MakePublisher


def edits(sandbox: SlackSandbox) -> int:
    """How many canvases.edit calls the sandbox received."""
    return len(sandbox.calls("canvases.edit"))


def published(metrics: Metrics, result: str) -> float | None:
    """The canvas publish counter for ``result``, as Prometheus would scrape it."""
    name = "epmpulse_canvas_publishes_total"
    return metrics.registry.get_sample_value(name, {"result": result})


@pytest.fixture
def service(slack_service: StatusService) -> StatusService:
    """The status service over the sandbox configuration's store."""
    return slack_service


def test_a_change_is_published_in_one_whole_document_replace(
    sandbox: SlackSandbox, canvas_id: str, service: StatusService, make_publisher: MakePublisher
) -> None:
    """One flush sends one canvases.edit with a single ``replace`` of the rendered board."""
    publisher = make_publisher(service)
    service.set("Planning", "Actuals", "ok", "Loaded", by="slack:U0ALICE")
    assert publisher.flush() is FlushResult.PUBLISHED
    (call,) = sandbox.calls("canvases.edit")
    assert call.ok
    (change,) = call.args["changes"]
    assert change["operation"] == "replace"
    assert "section_id" not in change
    assert change["document_content"]["type"] == "markdown"
    assert sandbox.canvas_markdown(canvas_id) == publisher.render()
    assert "| Actuals | :large_green_circle: OK | Loaded |" in publisher.render()


def test_a_burst_of_200_changes_in_one_window_costs_one_call(
    sandbox: SlackSandbox, canvas_id: str, service: StatusService, make_publisher: MakePublisher
) -> None:
    """Changes made between two ticks are coalesced into the next flush."""
    publisher = make_publisher(service)
    for n in range(200):
        service.set("FCCS", "Consolidation", list(Status)[n % 5], f"step {n}", by="api:ci")
    assert publisher.flush() is FlushResult.PUBLISHED
    assert publisher.flush() is FlushResult.UP_TO_DATE
    assert edits(sandbox) == 1
    assert "step 199" in sandbox.canvas_markdown(canvas_id)


def test_identical_content_is_never_sent_twice(
    sandbox: SlackSandbox, service: StatusService, make_publisher: MakePublisher
) -> None:
    """Meta writes, no-op ticks and changes that render the same cost no call."""
    publisher = make_publisher(service)
    service.set("ARCS", "Reconciliation", "loading", "", by="system")
    assert publisher.flush() is FlushResult.PUBLISHED
    for _ in range(3):
        assert publisher.flush() is FlushResult.UP_TO_DATE
    service.set_meta("unrelated", {"x": 1})  # bumps the board version
    assert publisher.flush() is FlushResult.UP_TO_DATE
    # Same status, message and author within the same minute renders identically.
    service.set("ARCS", "Reconciliation", "loading", "", by="system")
    assert publisher.flush() is FlushResult.UP_TO_DATE
    assert edits(sandbox) == 1
    assert not publisher.pending


def test_a_forced_refresh_resends_the_same_content_once(
    sandbox: SlackSandbox,
    canvas_id: str,
    service: StatusService,
    make_publisher: MakePublisher,
    clock: FakeClock,
) -> None:
    """``request_refresh`` republishes an unchanged board at the next tick, then settles."""
    publisher = make_publisher(service)
    assert publisher.flush() is FlushResult.PUBLISHED
    first_changes = sandbox.calls("canvases.edit")[0].args["changes"]
    publisher.request_refresh()
    assert publisher.pending
    clock.advance(2)
    assert publisher.flush() is FlushResult.PUBLISHED
    assert publisher.flush() is FlushResult.UP_TO_DATE
    assert edits(sandbox) == 2
    assert sandbox.calls("canvases.edit")[1].args["changes"] == first_changes


def test_a_429_is_honoured_until_retry_after_has_passed(
    sandbox: SlackSandbox,
    canvas_id: str,
    service: StatusService,
    make_publisher: MakePublisher,
    clock: FakeClock,
) -> None:
    """After a 429 no call is made before Retry-After; then the final board is published."""
    metrics = Metrics()
    publisher = make_publisher(service, metrics=metrics)
    sandbox.inject("canvases.edit", 429, retry_after=7)
    service.set("Planning", "Budget", "warning", "first", by="system")
    assert publisher.flush() is FlushResult.RATE_LIMITED
    assert publisher.state().retry_in_seconds == pytest.approx(7)
    service.set("Planning", "Budget", "error", "second", by="system")
    for _ in range(3):
        clock.advance(2)
        assert publisher.flush() is FlushResult.WAITING
    assert edits(sandbox) == 1
    clock.advance(1)
    assert publisher.flush() is FlushResult.PUBLISHED
    assert edits(sandbox) == 2
    assert sandbox.canvas_markdown(canvas_id) == publisher.render()
    assert "| Budget | :red_circle: Error | second |" in sandbox.canvas_markdown(canvas_id)
    assert published(metrics, "ratelimited") == 1
    assert published(metrics, "ok") == 1


def test_server_errors_back_off_and_the_canvas_converges(
    sandbox: SlackSandbox,
    canvas_id: str,
    service: StatusService,
    make_publisher: MakePublisher,
    clock: FakeClock,
) -> None:
    """Consecutive 5xx double the wait (from the debounce period); nothing is lost."""
    publisher = make_publisher(service, debounce_seconds=2.0)
    sandbox.inject("canvases.edit", 500, times=2)
    sandbox.inject("canvases.edit", 503, times=1, error="service_unavailable")
    waits = []
    for n in range(3):
        service.set("FCCS", "Actuals", "loading", f"attempt {n}", by="system")
        assert publisher.flush() is FlushResult.FAILED
        waits.append(publisher.state().retry_in_seconds)
        clock.advance(waits[-1] - 0.1)
        assert publisher.flush() is FlushResult.WAITING
        clock.advance(0.1)
    assert waits == [2.0, 4.0, 8.0]
    assert publisher.state().consecutive_failures == 3
    assert "service_unavailable" in (publisher.state().last_error or "")
    service.set("FCCS", "Actuals", "ok", "final", by="system")
    assert publisher.flush() is FlushResult.PUBLISHED
    assert publisher.state().consecutive_failures == 0
    assert edits(sandbox) == 4
    assert sandbox.canvas_markdown(canvas_id) == publisher.render()
    assert "| Actuals | :large_green_circle: OK | final |" in sandbox.canvas_markdown(canvas_id)


def test_the_publisher_never_provokes_a_429_itself(
    sandbox: SlackSandbox, service: StatusService, make_publisher: MakePublisher, clock: FakeClock
) -> None:
    """The 51st publish within a minute waits instead of being refused by Slack (Tier 3).

    The window counts wall-clock time, as Slack does: the sixty flushes here take far
    less than a minute, and the wait is the rest of that minute.
    """
    publisher = make_publisher(service, debounce_seconds=0.1)
    results = []
    for n in range(60):
        service.set("Planning", "Actuals", "loading", f"tick {n}", by="system")
        results.append(publisher.flush())
        clock.advance(0.1)
    assert results[:50] == [FlushResult.PUBLISHED] * 50
    assert results[50:] == [FlushResult.WAITING] * 10
    assert edits(sandbox) == 50
    assert all(call.ok for call in sandbox.calls("canvases.edit"))
    state = publisher.state()
    assert 0 < state.retry_in_seconds <= 60
    assert state.last_error == "holding back: Slack allows canvases.edit 50 per minute"
    # Turning the publisher's own clock does not open Slack's window early.
    clock.advance(state.retry_in_seconds)
    service.set("Planning", "Actuals", "ok", "final", by="system")
    assert publisher.flush() is FlushResult.WAITING
    assert edits(sandbox) == 50
    assert publisher.pending


def test_the_back_off_is_bounded(
    sandbox: SlackSandbox, service: StatusService, make_publisher: MakePublisher, clock: FakeClock
) -> None:
    """However many failures in a row, the next attempt is at most a minute away."""
    publisher = make_publisher(service, debounce_seconds=10.0)
    sandbox.inject("canvases.edit", 500, times=6)
    for _ in range(6):
        assert publisher.flush() is FlushResult.FAILED
        clock.advance(publisher.state().retry_in_seconds)
    assert publisher.state().consecutive_failures == 6
    assert edits(sandbox) == 6
    sandbox.inject("canvases.edit", 500)
    assert publisher.flush() is FlushResult.FAILED
    assert publisher.state().retry_in_seconds == MAX_BACKOFF_SECONDS


def test_a_refresh_request_survives_a_failed_publish(
    sandbox: SlackSandbox, service: StatusService, make_publisher: MakePublisher, clock: FakeClock
) -> None:
    """A forced refresh that fails is retried, even though the board itself is unchanged."""
    publisher = make_publisher(service)
    assert publisher.flush() is FlushResult.PUBLISHED
    publisher.request_refresh()
    sandbox.inject("canvases.edit", 500)
    clock.advance(2)
    assert publisher.flush() is FlushResult.FAILED
    clock.advance(publisher.state().retry_in_seconds)
    assert publisher.flush() is FlushResult.PUBLISHED
    assert edits(sandbox) == 3


def test_an_unreachable_slack_counts_as_a_failure(
    slack_config: Config, service: StatusService, make_publisher: MakePublisher
) -> None:
    """A connection error keeps the change pending instead of raising out of the job."""
    dead = WebClient(token="xoxb-sandbox", base_url="http://127.0.0.1:9/api/", timeout=1)
    publisher = make_publisher(service, client=dead)
    service.set("Planning", "Actuals", "ok", "", by="system")
    assert publisher.flush() is FlushResult.FAILED
    assert publisher.pending
    assert publisher.state().last_error


class _CutOffOnce(BaseHTTPRequestHandler):
    """Answers every Web API call ``{"ok": true}``, but cuts the first answer short."""

    protocol_version = "HTTP/1.0"
    answered = 0

    def do_POST(self) -> None:
        """Promise more bytes than are sent the first time, then answer normally."""
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"ok": true}'
        missing = 100 if _CutOffOnce.answered == 0 else 0
        _CutOffOnce.answered += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body) + missing))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the access log out of the test output."""


@pytest.fixture
def cut_off_once() -> Iterator[str]:
    """The base URL of a Web API whose first answer ends early (http.client.IncompleteRead)."""
    _CutOffOnce.answered = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CutOffOnce)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_cut_off_answer_backs_off_and_keeps_a_refresh_request(
    service: StatusService, make_publisher: MakePublisher, clock: FakeClock, cut_off_once: str
) -> None:
    """An answer cut short is a failed publish like any other: back-off, refresh kept."""
    client = WebClient(token="xoxb-sandbox", base_url=cut_off_once, timeout=5)
    publisher = make_publisher(service, client=client)
    publisher.assume_published(digest(publisher.render()))
    publisher.request_refresh()
    assert publisher.flush() is FlushResult.FAILED
    state = publisher.state()
    assert state.consecutive_failures == 1 and "IncompleteRead" in (state.last_error or "")
    assert publisher.flush() is FlushResult.WAITING
    clock.advance(state.retry_in_seconds)
    assert publisher.flush() is FlushResult.PUBLISHED  # the board is unchanged: forced
    assert publisher.flush() is FlushResult.UP_TO_DATE


def test_the_published_hash_survives_a_restart(
    sandbox: SlackSandbox,
    canvas_id: str,
    slack_config: Config,
    make_publisher: MakePublisher,
) -> None:
    """A restarted publisher does not re-send what is already on the canvas."""
    with process_life(slack_config) as service:
        service.set("Planning", "Actuals", "ok", "before", by="system")
        assert make_publisher(service).flush() is FlushResult.PUBLISHED
    with process_life(slack_config) as service:
        assert service.meta(PUBLISHED_META)["canvas_id"] == canvas_id
        assert make_publisher(service).flush() is FlushResult.UP_TO_DATE
    assert edits(sandbox) == 1


def test_a_change_saved_just_before_a_crash_is_published_after_restart(
    sandbox: SlackSandbox,
    canvas_id: str,
    slack_config: Config,
    make_publisher: MakePublisher,
) -> None:
    """The store is the queue: a change never flushed before the crash goes out after it."""
    with process_life(slack_config) as service:
        publisher = make_publisher(service)
        assert publisher.flush() is FlushResult.PUBLISHED
        service.set("ARCS", "Reconciliation", "error", "saved, never flushed", by="system")
        assert publisher.pending  # the process dies here
    with process_life(slack_config) as service:
        publisher = make_publisher(service)
        assert publisher.flush() is FlushResult.PUBLISHED
        assert "saved, never flushed" in sandbox.canvas_markdown(canvas_id)
        assert sandbox.canvas_markdown(canvas_id) == publisher.render()


def test_a_batch_counts_every_change_in_the_publish_log(
    service: StatusService, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    """One log line per publish says how many changes it coalesced, how long, what result."""
    publisher = make_publisher(service)
    updates = [
        Update(app="Planning", domain=d, status="ok") for d in ("Actuals", "Forecast", "Budget")
    ]
    service.set_many(updates, by="slack:U0ALICE")
    service.set("FCCS", "Actuals", "error", "", by="system")
    with caplog.at_level(logging.INFO, logger="bot.canvas.publisher"):
        publisher.flush()
    (line,) = [r.getMessage() for r in caplog.records]
    assert "4 change(s) coalesced" in line
    assert "result=ok" in line
    assert " ms" in line


def test_pending_age_is_measured_from_the_oldest_unpublished_change(
    sandbox: SlackSandbox, service: StatusService, make_publisher: MakePublisher, clock: FakeClock
) -> None:
    """The pending age grows from the first change and drops to zero once published."""
    metrics = Metrics()
    publisher = make_publisher(service, metrics=metrics)
    assert publisher.flush() is FlushResult.PUBLISHED
    service.set("Planning", "Actuals", "ok", "", by="system")
    clock.advance(3)
    service.set("Planning", "Forecast", "ok", "", by="system")
    clock.advance(2)
    assert publisher.pending_seconds() == 5
    assert metrics.registry.get_sample_value("epmpulse_canvas_pending_seconds") == 5
    assert publisher.flush() is FlushResult.PUBLISHED
    assert publisher.pending_seconds() == 0


@contextmanager
def process_life(config: Config) -> Iterator[StatusService]:
    """A status service over a freshly opened store, as one process would have it."""
    store = JsonStore(config.settings.data_dir)
    try:
        yield StatusService(config.estate.layout, store)
    finally:
        store.close()


@pytest.fixture(autouse=True)
def _no_leaked_faults(sandbox: SlackSandbox) -> Iterator[None]:
    """Each test's scripted faults are its own."""
    yield
    sandbox.clear_faults()


def test_a_closed_publisher_sends_nothing_more(
    sandbox: SlackSandbox, service: StatusService, make_publisher: MakePublisher
) -> None:
    """After close (leadership lost) a flush makes no Slack call, whatever changed."""
    publisher = make_publisher(service)
    service.set("Planning", "Actuals", "Error", by="system")
    publisher.close()
    assert publisher.flush() is FlushResult.CLOSED
    assert sandbox.calls("canvases.edit") == []
