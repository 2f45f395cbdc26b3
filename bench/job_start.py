"""Benchmark starting EPM jobs against the bundled EPM sandbox on loopback.

Prints latency p50/p99 of:
  1. ``EpmClient.start_job`` alone: one POST on a fresh connection (Connection: close,
     so a lost answer is never confused with a stale pooled connection);
  2. ``JobLauncher.run``: the durable reservation commit, the POST and the commit that
     sets Loading and tracks the job (what ``/epmpulse run`` and POST /jobs wait for).
The difference is what the "never start twice" reservation and the durable change cost.

Usage: python bench/job_start.py [--runs N] [--dir PATH]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from bot.config import load_config
from bot.epm.launch import JobLauncher
from bot.epm.part import build_clients
from bot.sandbox.epm import EpmSandbox
from bot.service import StatusService
from bot.store import JsonStore


def _report(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"{name:<28} n={len(ms):<5} p50 {statistics.median(ms):6.2f} ms   p99 {p99:6.2f} ms")


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=None, help="data directory (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp, EpmSandbox() as epm:
        estate = {
            "apps": {
                "Planning": {
                    "domains": ["Actuals"],
                    "server": "planning",
                    "jobs": {"Actuals": {"type": "RULES", "name": "Agg", "parameters": {}}},
                }
            },
            "epm": {
                "servers": {
                    "planning": {
                        "kind": "planning",
                        "base_url": epm.base_url,
                        "application": "Vision",
                        "auth": {
                            "type": "basic",
                            "username": epm.username,
                            "password": epm.password,
                        },
                    }
                }
            },
        }
        path = Path(tmp) / "epmpulse.yml"
        path.write_text(yaml.safe_dump(estate), encoding="utf-8")
        config = load_config({"EPMPULSE_CONFIG": str(path), "EPMPULSE_DATA_DIR": f"{tmp}/data"})
        store = JsonStore(config.settings.data_dir)
        service = StatusService(config.estate.layout, store)
        clients = build_clients(config)
        launcher = JobLauncher(service, clients, estate=config.estate)
        raw, launched = [], []
        try:
            for _ in range(args.runs):
                started = time.perf_counter()
                clients["planning"].start_job("RULES", "Agg", {})
                raw.append(time.perf_counter() - started)
            for _ in range(args.runs):
                started = time.perf_counter()
                launcher.run("Planning", "Actuals", by="system")
                launched.append(time.perf_counter() - started)
                service.set("Planning", "Actuals", "OK", by="system")  # clears the job
        finally:
            for client in clients.values():
                client.close()
            store.close()
    _report("EpmClient.start_job", raw)
    _report("JobLauncher.run (durable)", launched)


if __name__ == "__main__":
    main()
