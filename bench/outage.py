"""Benchmark recovery after a database outage (SPEC §15 "After an outage").

The PostgreSQL store talks to the database through a loopback TCP proxy
(``tests/faults/tcpproxy.py``). The proxy cuts every connection and refuses new ones for
the length of the outage, then lets them through again. Prints, for each outage:

  - busy: a writer commits once a second throughout (each failed commit takes up to
    the pool timeout); the figure is the time from the database's return to the end of
    the first successful commit;
  - idle: the pool is warmed to several connections, nothing is written during the
    outage, and one commit is made right after the return; the figure is that commit's
    time, and whether it succeeded.

Goal: the first write after the return succeeds within 15 s, for each outage.

Usage: python bench/outage.py [--url postgresql://…] [--outages 45,130]
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bot.errors import StoreError
from bot.store.base import WorkingState
from bot.store.postgres import PostgresStore
from bot.store.postgres_pool import POOL_MAX_SIZE

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests/ is a package of the repository, not installed
from tests.faults.tcpproxy import TcpProxy  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
GOAL_SECONDS = 15.0
WRITE_INTERVAL = 1.0
WARM_CONNECTIONS = POOL_MAX_SIZE  # a busy spell fills the pool


@contextmanager
def proxied_store(url: str, outage: float) -> Iterator[tuple[PostgresStore, TcpProxy]]:
    """A store in a fresh schema, reaching the database through a proxy."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    params = conninfo_to_dict(url)
    target = (str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    proxy = TcpProxy(target, lifetime=outage + 120).start()
    try:
        via = make_conninfo(url, host="127.0.0.1", port=proxy.port, options=f"-csearch_path={name}")
        store = PostgresStore(via)
        try:
            yield store, proxy
        finally:
            store.close()
    finally:
        proxy.stop()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def bump(work: WorkingState) -> None:
    """A small write: one meta value changes."""
    work.put_meta("bench.outage", {"at": time.time()})


def write(store: PostgresStore) -> bool:
    """One commit; whether it succeeded."""
    try:
        store.commit(bump)
    except StoreError:
        return False
    return True


def busy(url: str, outage: float) -> float:
    """Seconds from the return to the end of the first successful commit, writing throughout."""
    with proxied_store(url, outage) as (store, proxy):
        write(store)
        restored_at: list[float] = []
        recovered = threading.Event()
        stop = threading.Event()

        def writer() -> None:
            while not stop.is_set():
                ok = write(store)
                if ok and restored_at:
                    recovered.set()
                    return
                stop.wait(WRITE_INTERVAL)

        thread = threading.Thread(target=writer, daemon=True)
        proxy.cut()
        thread.start()
        time.sleep(outage)
        proxy.restore()
        restored_at.append(time.monotonic())
        done = recovered.wait(timeout=600)
        took = time.monotonic() - restored_at[0]
        stop.set()
        thread.join(timeout=30)
        return took if done else float("inf")


def idle(url: str, outage: float) -> tuple[float, bool]:
    """The first commit after the return, nothing written during the outage: (seconds, ok)."""
    with proxied_store(url, outage) as (store, proxy):
        # Several connections in the pool, all cut at once, as after a busy spell.
        with ThreadPoolExecutor(WARM_CONNECTIONS) as pool:
            list(pool.map(lambda _: store.history(limit=1), range(WARM_CONNECTIONS * 8)))
        write(store)
        proxy.cut()
        time.sleep(outage)
        proxy.restore()
        started = time.monotonic()
        ok = write(store)
        return time.monotonic() - started, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--outages", default="45,130", help="outage lengths in seconds")
    args = parser.parse_args()
    # The pool logs every failed reconnection attempt as a warning: dozens per outage.
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    outages = [float(x) for x in args.outages.split(",")]
    print(f"goal: the first write after the database returns succeeds within {GOAL_SECONDS:g} s")
    for outage in outages:
        # Both runs at once: each has its own proxy, schema and store.
        with ThreadPoolExecutor(2) as runs:
            busy_run = runs.submit(busy, args.url, outage)
            idle_run = runs.submit(idle, args.url, outage)
            took_busy = busy_run.result()
            took_idle, ok_idle = idle_run.result()
        print(
            f"outage {outage:5.0f} s: busy: first success {took_busy:5.1f} s after the return "
            f"({'ok' if took_busy <= GOAL_SECONDS else 'MISSED'}); "
            f"idle: first write {'succeeded' if ok_idle else 'FAILED'} in {took_idle:.1f} s "
            f"({'ok' if ok_idle and took_idle <= GOAL_SECONDS else 'MISSED'})"
        )


if __name__ == "__main__":
    main()
