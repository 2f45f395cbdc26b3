"""Benchmark durable POST /status over real HTTP against the store's own durable rate.

Prints, in one run and on one disk, for the JSON store and then for PostgreSQL:
  1. the store's raw single-writer rate: ``StatusService.set`` in a tight loop, measured
     before and after the HTTP runs (disks drift; the mean is the reference);
  2. POST /status through uvicorn on 127.0.0.1 (rate limits raised, one request log
     line per request as in production; the event loop and HTTP parser it picked,
     uvloop + httptools with uvicorn[standard]) with 1, 8 and 32 concurrent
     keep-alive clients, run from a separate process: throughput and latency p50/p99;
     on PostgreSQL also the round trips per request, counted on the wire;
  3. the goals: 8 clients reach >= 70% of the store's rate, p99 < 50 ms; and
     POST /status on PostgreSQL reaches >= 70% of the same on JSON.

Usage: python bench/api.py [--seconds S] [--dir PATH] [--clients 1,8,32] [--url URL|""]
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bot.api import ApiPart, create_api
from bot.api.ratelimit import RateLimits
from bot.estate import Estate
from bot.logs import JsonFormatter
from bot.metrics import Metrics
from bot.runtime import Check
from bot.service import StatusService
from bot.store import JsonStore, Store
from bot.store.postgres import PostgresStore
from bot.store.roundtrips import RoundTrips

GOAL_SHARE = 0.70
GOAL_POSTGRES_SHARE = 0.70  # POST /status on PostgreSQL vs on JSON, 8 clients
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
GOAL_P99_MS = 50.0
WARM_UP_REQUESTS = 5
# Per-second windows keep the moving window short while never refusing a request.
NO_LIMITS = "status=1000000/second,batch=1000000/second,read=1000000/second"


@dataclass(frozen=True)
class Result:
    """What one measurement produced."""

    label: str
    count: int
    seconds: float
    latencies_ms: list[float]
    failures: int = 0

    @property
    def rate(self) -> float:
        """Completed updates per second."""
        return self.count / self.seconds

    def percentile(self, pct: float) -> float:
        """The ``pct`` percentile latency in milliseconds (nearest rank)."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def say(line: str = "") -> None:
    """Write one line of the report to standard output."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


OpenStore = Callable[[], Store]


def store_rate(open_store: OpenStore, seconds: float, label: str) -> Result:
    """The store's own durable update rate: one writer calling ``set`` in a tight loop."""
    estate = Estate()
    keys = estate.domain_keys()
    store = open_store()
    service = StatusService(estate.layout, store)
    latencies: list[float] = []
    try:
        started = time.perf_counter()
        deadline = started + seconds
        n = 0
        while time.perf_counter() < deadline:
            app, domain = keys[n % len(keys)]
            begin = time.perf_counter()
            service.set(app, domain, "OK" if n % 2 else "Loading", f"raw {n}", by="api:bench")
            latencies.append((time.perf_counter() - begin) * 1000)
            n += 1
        elapsed = time.perf_counter() - started
    finally:
        store.close()
    return Result(label, len(latencies), elapsed, latencies)


def client_key(n: int) -> str:
    """The API key of bench client ``n``."""
    return f"bench-key-{n:02d}-0123456789abcdef"


def run_clients(port: int, clients: int, seconds: float) -> tuple[int, float, list[float], int]:
    """Run ``clients`` keep-alive HTTP clients for ``seconds`` (in a separate process).

    Returns (completed requests, elapsed seconds, latencies in ms, failed requests).
    """
    domains = [(a, d) for a, d in Estate().domain_keys()]
    barrier = threading.Barrier(clients + 1)
    results: list[tuple[list[float], int]] = []
    lock = threading.Lock()
    window: dict[str, float] = {}

    def client(n: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {client_key(n)}", "Content-Type": "application/json"}
        latencies: list[float] = []
        failures = 0

        def post(i: int) -> bool:
            app, domain = domains[(n + i) % len(domains)]
            status = "OK" if i % 2 else "Loading"
            body = json.dumps({"app": app, "domain": domain, "status": status, "message": f"c{n}"})
            connection.request("POST", "/api/v1/status", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status == 200

        for i in range(WARM_UP_REQUESTS):
            post(i)
        barrier.wait()
        i = 0
        while time.perf_counter() < window["deadline"]:
            begin = time.perf_counter()
            ok = post(i)
            if ok:
                latencies.append((time.perf_counter() - begin) * 1000)
            else:
                failures += 1
            i += 1
        connection.close()
        with lock:
            results.append((latencies, failures))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    window["deadline"] = time.perf_counter() + 3600  # replaced below, before anyone reads it
    barrier.wait()
    started = time.perf_counter()
    window["deadline"] = started + seconds
    for thread in threads:
        thread.join(seconds + 60)
    elapsed = time.perf_counter() - started
    latencies = [t for timings, _ in results for t in timings]
    return len(latencies), elapsed, latencies, sum(f for _, f in results)


def api_rates(
    open_store: OpenStore, levels: list[int], seconds: float
) -> tuple[list[Result], float | None]:
    """Serve the API from this process and load it from a client process, per level.

    Returns the results and, on PostgreSQL, the round trips per request (warm-up too).
    """
    metrics = Metrics()
    store = open_store()
    service = StatusService(Estate().layout, store, metrics=metrics)
    keys = {f"bench{n:02d}": SecretStr(client_key(n)) for n in range(max(levels))}
    app = create_api(
        service,
        api_keys=keys,
        metrics=metrics,
        health=lambda: {"store": Check(True, "bench")},
        rate_limits=RateLimits.parse(NO_LIMITS),
    )
    part = ApiPart(app, "127.0.0.1", 0, graceful_seconds=2)
    part.start()
    # uvicorn[standard] is a runtime dependency: the run must use uvloop and httptools.
    say(f"uvicorn serving with {part.engine()}")
    results = []
    requests = 0
    trips = RoundTrips(store) if isinstance(store, PostgresStore) else None
    try:
        with (
            trips or nullcontext(),
            ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as clients,
        ):
            for level in levels:
                count, elapsed, latencies, failures = clients.submit(
                    run_clients, part.port, level, seconds
                ).result(timeout=seconds + 120)
                label = f"HTTP POST /status, {level:>2} client(s)"
                results.append(Result(label, count, elapsed, latencies, failures))
                requests += count + failures + WARM_UP_REQUESTS * level
    finally:
        part.stop()
        store.close()
    return results, (trips.count / requests if trips is not None else None)


def row(result: Result, store: Result) -> str:
    """One aligned result line."""
    failed = f"  {result.failures} failed" if result.failures else ""
    return (
        f"  {result.label:<34} {result.rate:8.0f} upd/s  p50 {result.percentile(50):6.2f} ms"
        f"  p99 {result.percentile(99):6.2f} ms  ({result.rate / store.rate:5.0%} of store)"
        f"{failed}"
    )


def log_requests_like_production() -> None:
    """Format one JSON log line per request, as ``epmpulse run`` does, into /dev/null."""
    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives for the whole run
    handler = logging.StreamHandler(sink)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


@contextmanager
def postgres_schema(url: str) -> Iterator[OpenStore]:
    """Open PostgreSQL stores in a fresh schema of ``url``, dropped afterwards."""
    from ha import schema  # bench/ha.py, beside this script

    with schema(url) as in_schema:
        yield lambda: PostgresStore(in_schema)


def measure(name: str, open_store: OpenStore, levels: list[int], seconds: float) -> list[Result]:
    """The store's own rate around the HTTP runs on it, printed; returns the HTTP results."""
    before = store_rate(open_store, seconds, "store.set, 1 writer, before")
    results, trips = api_rates(open_store, levels, seconds)
    after = store_rate(open_store, seconds, "store.set, 1 writer, after")
    store = Result(
        "store.set, 1 writer, mean",
        before.count + after.count,
        before.seconds + after.seconds,
        before.latencies_ms + after.latencies_ms,
    )
    say(f"{name}: the store's own durable rate (the reference):")
    for result in (before, after, store):
        say(row(result, store))
    say(f"{name}: durable POST /status over HTTP (uvicorn on 127.0.0.1, keep-alive clients):")
    for result in results:
        say(row(result, store))
    if trips is not None:
        say(f"  round trips to the database per request: {trips:.2f}")
    for result in results:
        if result.label.endswith(" 8 client(s)"):
            share = result.rate / store.rate
            p99 = result.percentile(99)
            say(f"  goal: 8 clients vs store rate: {share:.0%} (>= {GOAL_SHARE:.0%})")
            say(f"  goal: 8 clients p99: {p99:.1f} ms (< {GOAL_P99_MS:.0f} ms)")
    return results


def main() -> None:
    """Parse arguments and run the measurements on JSON, then on PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each run")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: tmp)")
    parser.add_argument("--clients", default="1,8,32", help="client counts, comma-separated")
    parser.add_argument(
        "--url",
        default=os.environ.get("EPMPULSE_BENCH_DATABASE_URL", DEFAULT_URL),
        help='PostgreSQL to compare with ("" for JSON only)',
    )
    args = parser.parse_args()
    levels = [int(n) for n in args.clients.split(",")]
    log_requests_like_production()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="epmpulse-bench-api-") as root:
        say(f"Data directory: {root} ({os.cpu_count()} CPUs)")
        on_json = measure("JSON", lambda: JsonStore(Path(root) / "store"), levels, args.seconds)
    if not args.url:
        return
    with postgres_schema(args.url) as open_postgres:
        on_postgres = measure("PostgreSQL", open_postgres, levels, args.seconds)
    say("PostgreSQL vs JSON, same run:")
    for json_result, pg_result in zip(on_json, on_postgres, strict=True):
        say(f"  {pg_result.label:<34} {pg_result.rate / json_result.rate:5.0%} of JSON")
    for json_result, pg_result in zip(on_json, on_postgres, strict=True):
        if pg_result.label.endswith(" 8 client(s)"):
            share = pg_result.rate / json_result.rate
            goal = f">= {GOAL_POSTGRES_SHARE:.0%}"
            say(f"  goal: 8 clients on PostgreSQL {share:.0%} of JSON ({goal})")


if __name__ == "__main__":
    main()
