"""Benchmark one EPM poll cycle against the ideal of a bounded thread pool.

200 tracked jobs (never finishing) on 3 EPM sandbox servers (planning, data
integration, ARCS), each answering after 300 ms. For max_workers 1, 8 and 16 it
times Poller.run_cycle() — the real clients, thread pool and store transaction —
and compares with the ideal ceil(jobs / workers) x latency.

With 1 worker a full cycle would take about a minute, so by default only 20 jobs
are polled and the time is scaled to 200 (marked "extrapolated"); pass
--full-sequential to measure all 200.

Then the 8-worker cycle runs through a forward proxy on loopback (HTTP_PROXY, the
sandbox's :class:`~bot.sandbox.proxy.ForwardProxy`) and directly, alternating, and
the ratio of the medians is printed (goal: at most 1.1, issue 21).

Usage: python bench/poll.py [--jobs 200] [--latency 0.3] [--cycles 2] [--full-sequential]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bot.config import Config, load_config
from bot.epm.part import build_clients
from bot.epm.poller import Poller
from bot.model import JobRef, Status, Update
from bot.sandbox.epm import EpmSandbox
from bot.sandbox.proxy import ForwardProxy
from bot.service import StatusService
from bot.store import JsonStore

KINDS = ("planning", "data_integration", "arcs")
JOBS_PER_DOMAIN = 10
SEQUENTIAL_SAMPLE = 20
PROXY_WORKERS = 8


def make_config(
    directory: Path,
    sandboxes: list[EpmSandbox],
    jobs: int,
    workers: int,
    proxy: str | None = None,
) -> Config:
    """An estate with one app whose domains track ``jobs`` jobs spread over the sandboxes."""
    servers: dict[str, Any] = {}
    for sandbox, kind in zip(sandboxes, KINDS, strict=True):
        server: dict[str, Any] = {
            "kind": kind,
            "base_url": sandbox.base_url,
            "auth": {"type": "basic", "username": sandbox.username, "password": sandbox.password},
            "timeout_seconds": 10,
        }
        if kind == "planning":
            server["application"] = "Vision"
        servers[kind] = server
    domains = [f"D{n:03d}" for n in range(math.ceil(jobs / JOBS_PER_DOMAIN))]
    document = {
        "apps": {"Bench": {"domains": domains}},
        "epm": {"servers": servers, "max_workers": workers},
    }
    path = directory / "epmpulse.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    env = {"EPMPULSE_CONFIG": str(path), "EPMPULSE_DATA_DIR": str(directory / "data")}
    if proxy is not None:
        env["HTTP_PROXY"] = proxy  # the sandboxes speak http://
    return load_config(env, cwd=directory)


def track_jobs(service: StatusService, jobs: int) -> None:
    """Track ``jobs`` jobs, round-robin over the three servers, 10 per domain, in one batch."""
    per_domain: dict[str, list[JobRef]] = {}
    domains = service.layout.apps["Bench"].domains
    for n in range(jobs):
        domain = domains[n // JOBS_PER_DOMAIN]
        per_domain.setdefault(domain, []).append(JobRef(server=KINDS[n % 3], job_id=str(n)))
    updates = [
        Update(app="Bench", domain=d, status=Status.LOADING, jobs=refs)
        for d, refs in per_domain.items()
    ]
    service.set_many(updates, by="system")


def measure(
    sandboxes: list[EpmSandbox],
    jobs: int,
    workers: int,
    cycles: int,
    proxy: str | None = None,
) -> list[float]:
    """Seconds of each of ``cycles`` poll cycles over ``jobs`` tracked jobs."""
    with tempfile.TemporaryDirectory(prefix="epmpulse-bench-") as tmp:
        config = make_config(Path(tmp), sandboxes, jobs, workers, proxy)
        store = JsonStore(config.settings.data_dir)
        service = StatusService(config.estate.layout, store)
        track_jobs(service, jobs)
        clients = build_clients(config)
        poller = Poller(service, clients, max_workers=workers)
        try:
            times = []
            for _ in range(cycles):
                summary = poller.run_cycle()
                assert summary is not None and summary.running == jobs, summary
                times.append(summary.seconds)
            return times
        finally:
            poller.close()
            for client in clients.values():
                client.close()
            store.close()


def main() -> None:
    """Run the benchmark and print one line per worker count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--full-sequential", action="store_true")
    args = parser.parse_args()

    sandboxes = [EpmSandbox(latency=args.latency).start() for _ in KINDS]
    try:
        for sandbox, kind in zip(sandboxes, KINDS, strict=True):
            for n in range(args.jobs):
                sandbox.add_job(kind, n, "running")
        print(
            f"{args.jobs} tracked jobs on {len(KINDS)} sandbox servers, "
            f"{args.latency * 1000:.0f} ms latency each; {args.cycles} cycle(s) per setting"
        )
        print(f"{'workers':>7} {'polled':>6} {'cycle s':>8} {'ideal s':>8} {'ratio':>6}  note")
        for workers in (1, 8, 16):
            sample = args.jobs
            if workers == 1 and not args.full_sequential:
                sample = min(args.jobs, SEQUENTIAL_SAMPLE)
            times = measure(sandboxes, sample, workers, args.cycles)
            best, median = min(times), statistics.median(times)
            scale = args.jobs / sample
            cycle = median * scale
            ideal = math.ceil(args.jobs / workers) * args.latency
            note = f"median of {len(times)}; best {best * scale:.2f}s"
            if scale != 1:
                note += f"; extrapolated from {sample} jobs x{scale:g}"
            ratio = cycle / ideal
            print(f"{workers:>7} {sample:>6} {cycle:>8.2f} {ideal:>8.2f} {ratio:>6.2f}  {note}")
        through_proxy(sandboxes, args.jobs, args.cycles)
    finally:
        for sandbox in sandboxes:
            sandbox.stop()


def through_proxy(sandboxes: list[EpmSandbox], jobs: int, cycles: int) -> None:
    """The 8-worker cycle through a forward proxy and directly, alternating; the ratio."""
    direct: list[float] = []
    proxied: list[float] = []
    with ForwardProxy() as proxy:
        for _ in range(max(cycles, 3)):
            direct += measure(sandboxes, jobs, PROXY_WORKERS, 1)
            before = len(proxy.seen)
            proxied += measure(sandboxes, jobs, PROXY_WORKERS, 1, proxy.url)
            assert len(proxy.seen) - before >= jobs, "the cycle did not go through the proxy"
    plain, via = statistics.median(direct), statistics.median(proxied)
    print(
        f"\nthrough a forward proxy ({PROXY_WORKERS} workers, median of {len(direct)} "
        f"alternating runs): direct {plain:.2f}s, proxy {via:.2f}s, "
        f"ratio {via / plain:.3f} (goal <= 1.1)"
    )


if __name__ == "__main__":
    main()
