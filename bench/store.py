"""Benchmark the durable JSON store against the physical limit of its design.

Prints, in one run:
  1. the raw loop: the write path's file operations alone (write temp, fsync, rename,
     fsync dir, append history line, fsync) with the same byte sizes, no lock/JSON;
  2. durable ``set`` latency p50/p99 and updates/s with 1, 4 and 16 writers, as
     threads and as processes;
  3. the same single-writer figures on a 1,000-domain estate;
  4. single-writer cost with a long history (cost must not grow with history length).

Usage: python bench/store.py [--updates N] [--dir PATH]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import tempfile
import threading
import time
from pathlib import Path

from bot.estate import AppConfig, Estate
from bot.service import StatusService
from bot.store import JsonStore
from bot.store.json_store import HISTORY_FILE, STATE_FILE

OLD_DESIGN_RATE = 50.0  # updates/s the replaced design was rated at


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def raw_loop(directory: Path, state_bytes: bytes, line: bytes, count: int) -> list[float]:
    """The store's file operations with nothing else; returns per-iteration seconds."""
    directory.mkdir(parents=True, exist_ok=True)
    dir_fd = os.open(directory, os.O_RDONLY)
    history = os.open(directory / "history", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    tmp, target = directory / ".state.tmp", directory / "state"
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, state_bytes)
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, target)
        os.fsync(dir_fd)
        os.write(history, line)
        os.fsync(history)
        timings.append(time.perf_counter() - start)
    os.close(history)
    os.close(dir_fd)
    return timings


def estate_of(apps: int, domains: int) -> Estate:
    """An estate of ``apps`` x ``domains``."""
    return Estate(
        apps={
            f"App{a:02d}": AppConfig(domains=[f"Domain{d:02d}" for d in range(domains)])
            for a in range(apps)
        }
    )


def fill(estate: Estate, data_dir: Path) -> tuple[bytes, bytes]:
    """Set every domain once; return the resulting state file and one history line."""
    service = StatusService(estate.layout, JsonStore(data_dir))
    for app, domain in estate.domain_keys():
        service.set(app, domain, "OK", "Loaded from the general ledger", by="api:bench")
    service.store.close()
    history = (data_dir / HISTORY_FILE).read_bytes().splitlines(keepends=True)
    return (data_dir / STATE_FILE).read_bytes(), history[-1]


def _sets(service: StatusService, keys: list[tuple[str, str]], n: int, name: str) -> list[float]:
    timings = []
    for i in range(n):
        app, domain = keys[i % len(keys)]
        start = time.perf_counter()
        service.set(app, domain, "OK" if i % 2 else "Loading", f"{name} {i}", by="api:bench")
        timings.append(time.perf_counter() - start)
    return timings


def _process_writer(
    data_dir: str, apps: int, domains: int, n: int, name: str, go: object, out: object
) -> None:
    estate = estate_of(apps, domains)
    service = StatusService(estate.layout, JsonStore(Path(data_dir)))
    go.wait()  # type: ignore[attr-defined]
    out.put(_sets(service, estate.domain_keys(), n, name))  # type: ignore[attr-defined]


def run_writers(
    data_dir: Path, shape: tuple[int, int], writers: int, total: int, mode: str
) -> tuple[float, list[float]]:
    """Run ``total`` sets split over ``writers`` threads or processes; (rate, latencies)."""
    estate = estate_of(*shape)
    per_writer = max(1, total // writers)
    if mode == "threads":
        service = StatusService(estate.layout, JsonStore(data_dir))
        results: list[list[float]] = []
        lock = threading.Lock()

        def work(n: int) -> None:
            timings = _sets(service, estate.domain_keys(), per_writer, f"t{n}")
            with lock:
                results.append(timings)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        service.store.close()
    else:
        ctx = mp.get_context("fork")
        go, out = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(
                target=_process_writer,
                args=(str(data_dir), *shape, per_writer, f"p{n}", go, out),
            )
            for n in range(writers)
        ]
        for proc in procs:
            proc.start()
        time.sleep(0.5)  # let every process open its store before the clock starts
        start = time.perf_counter()
        go.set()
        results = [out.get(timeout=300) for _ in procs]
        elapsed = time.perf_counter() - start
        for proc in procs:
            proc.join(timeout=30)
    latencies = [t for timings in results for t in timings]
    return len(latencies) / elapsed, latencies


def row(label: str, rate: float, latencies: list[float], raw_rate: float) -> str:
    """One aligned result line."""
    return (
        f"  {label:<34} {rate:8.0f} upd/s  p50 {percentile(latencies, 50) * 1000:6.2f} ms"
        f"  p99 {percentile(latencies, 99) * 1000:6.2f} ms  ({rate / raw_rate:5.0%} of raw)"
    )


def measure(root: Path, total: int) -> None:
    """Run every measurement under ``root`` and print the figures."""

    def fresh(name: str) -> Path:
        return root / name

    small_state, small_line = fill(estate_of(3, 2), fresh("shape-small"))
    big_state, big_line = fill(estate_of(50, 20), fresh("shape-big"))

    raw = raw_loop(fresh("raw-small"), small_state, small_line, total)
    raw_rate, raw_p50 = len(raw) / sum(raw), percentile(raw, 50)
    raw_big = raw_loop(fresh("raw-big"), big_state, big_line, max(100, total // 4))
    raw_big_rate = len(raw_big) / sum(raw_big)
    print(f"Raw file operations (the physical limit), {len(small_state)} B state:")
    print(row("raw loop, 6-domain state", raw_rate, raw, raw_rate))
    print(
        row(
            f"raw loop, 1,000-domain state ({len(big_state) // 1024} KiB)",
            raw_big_rate,
            raw_big,
            raw_big_rate,
        )
    )

    print("\nDurable set() through StatusService + JsonStore (default 6-domain estate):")
    rates: dict[tuple[str, int], float] = {}
    single: list[float] = []
    for mode in ("threads", "processes"):
        for writers in (1, 4, 16):
            rate, lat = run_writers(fresh(f"{mode}-{writers}"), (3, 2), writers, total, mode)
            rates[(mode, writers)] = rate
            if writers == 1 and mode == "threads":
                single = lat
            print(row(f"{writers:>2} writer(s), {mode}", rate, lat, raw_rate))
    single_rate = rates[("threads", 1)]

    print("\n1,000-domain estate (50 apps x 20 domains):")
    big_dir = fresh("big-1")
    fill(estate_of(50, 20), big_dir)
    rate, lat = run_writers(big_dir, (50, 20), 1, max(100, total // 4), "threads")
    print(row("1 writer", rate, lat, raw_big_rate))
    rate16, lat16 = run_writers(big_dir, (50, 20), 16, max(100, total // 4), "threads")
    print(row("16 writers, threads", rate16, lat16, raw_big_rate))

    print("\nCost per update against history length (1 writer):")
    long_dir = fresh("long-history")
    fill(estate_of(3, 2), long_dir)
    line = json.loads(small_line)
    with (long_dir / HISTORY_FILE).open("ab") as history:
        for n in range(200_000):
            line["message"] = f"old {n}"
            history.write(json.dumps(line).encode() + b"\n")
    size_mib = (long_dir / HISTORY_FILE).stat().st_size / 2**20
    rate_long, lat_long = run_writers(long_dir, (3, 2), 1, total, "threads")
    print(row("empty history", single_rate, single, raw_rate))
    print(row(f"200,000-line history ({size_mib:.0f} MiB)", rate_long, lat_long, raw_rate))

    single_p50 = percentile(single, 50)
    print("\nSummary:")
    print(f"  single-writer p50 / raw p50: {single_p50 / raw_p50:.2f}x (goal <= 1.5x)")
    print(
        f"  single writer vs the replaced design (~{OLD_DESIGN_RATE:.0f} upd/s): "
        f"{single_rate / OLD_DESIGN_RATE:.0f}x"
    )
    for mode in ("threads", "processes"):
        print(
            f"  16 writers ({mode}) vs raw rate: {rates[(mode, 16)] / raw_rate:.0%} (goal >= 80%)"
        )
    big_ratio = percentile(lat, 50) / percentile(raw_big, 50)
    print(
        f"  1,000-domain: 1 writer p50 / raw p50 {big_ratio:.2f}x,"
        f" 16 threads {rate16 / raw_big_rate:.0%} of raw"
    )
    print(
        f"  long history p50 / empty history p50: "
        f"{percentile(lat_long, 50) / single_p50:.2f}x (goal ~1.0x)"
    )


def main() -> None:
    """Parse arguments and run the benchmark in a temporary directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=800, help="updates per measurement")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: tmp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="epmpulse-bench-") as root:
        measure(Path(root), args.updates)


if __name__ == "__main__":
    main()
