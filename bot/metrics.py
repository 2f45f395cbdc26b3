"""Prometheus metrics of one EPMPulse process, in their own registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.model import DomainRecord, Status


class Metrics:
    """Every counter, gauge and histogram EPMPulse exposes at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "epmpulse_updates",
            "Status update requests by source (slack, api, epm, system) and result.",
            ["source", "result"],
            registry=self.registry,
        )
        self.api_requests = Counter(
            "epmpulse_api_requests",
            "REST API requests by route and HTTP status code.",
            ["route", "code"],
            registry=self.registry,
        )
        self.canvas_publishes = Counter(
            "epmpulse_canvas_publishes",
            "Canvas publish attempts by result (ok, failed, ratelimited).",
            ["result"],
            registry=self.registry,
        )
        self.canvas_pending_seconds = Gauge(
            "epmpulse_canvas_pending_seconds",
            "Age of the oldest board change not yet on the canvas (0 when up to date).",
            registry=self.registry,
        )
        self.epm_poll_seconds = Histogram(
            "epmpulse_epm_poll_duration_seconds",
            "Duration of EPM job-status requests by server.",
            ["server"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "epmpulse_leader",
            "1 while this instance is the leader running the scheduled work, else 0.",
            registry=self.registry,
        )
        self.epm_errors = Counter(
            "epmpulse_epm_errors",
            "EPM requests that failed, by server and whether the failure was permanent.",
            ["server", "permanent"],
            registry=self.registry,
        )

    def count_update(self, by: str, result: str, n: int = 1) -> None:
        """Count ``n`` update requests made by ``by`` (e.g. ``slack:U1``) ending in ``result``."""
        self.updates.labels(source=by.partition(":")[0], result=result).inc(n)

    def watch_board(self, board: Callable[[], dict[str, list[DomainRecord]]]) -> None:
        """Expose every domain's current status, read from ``board`` at scrape time."""
        self.registry.register(_BoardCollector(board))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class _BoardCollector(Collector):
    def __init__(self, board: Callable[[], dict[str, list[DomainRecord]]]) -> None:
        self._board = board

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "epmpulse_domain_status",
            "1 for each domain's current status, 0 for the others.",
            labels=["app", "domain", "status"],
        )
        for records in self._board().values():
            for record in records:
                for status in Status:
                    value = 1.0 if record.status is status else 0.0
                    family.add_metric([record.app, record.domain, status.value], value)
        yield family
