"""Benchmark several instances on PostgreSQL (SPEC §10).

Prints, in one run:
  1. the physical limit: a bare ``INSERT`` + ``UPDATE`` + ``COMMIT`` loop on one
     connection, no application code;
  2. durable ``set`` p50/p99, updates/s and round trips per set (counted on the wire,
     bot/store/roundtrips.py) on PostgreSQL with 1, 4 and 16 writers (as processes, each
     with its own store, and as threads of one process), next to the JSON store on the
     same machine;
  3. REST throughput with 8 clients: one instance on the JSON store, then on
     PostgreSQL one instance and 2 instances; PostgreSQL as a share of JSON;
  4. failover: SIGKILL of the leader until the survivor publishes a new change on the
     canvas, median of 5 — and, across them, lost writes and duplicate alerts;
  5. failover when the leader's database session is terminated (pg_terminate_backend),
     median of 5;
  6. the overlap of two leaders' side effects while the first one's parts start slowly
     (Slack answering its start-up call in 5 s, its session terminated meanwhile);
  7. duplicates across 20 failovers (10 SIGKILL, 10 terminated sessions) with 200
     alerts in flight;
  8. the first successful write after 45 s and 130 s database outages (bench/outage.py).

Goals: 1 writer within 2x of the bare loop's latency; 16 writers at >= 80% of its rate;
REST on PostgreSQL >= 70% of the same on JSON; failover <= EPMPULSE_LEADER_TIMEOUT_SECONDS
+ 2 s; zero lost writes, zero duplicates (beyond one per crash); 0 ms overlap; first write
after an outage within 15 s.

On a small machine (2 cores shared with other work) writers in separate processes hand
the commit lock over through the scheduler, so their rate is bounded by the bare loop
run from the same number of processes, which is printed too.

Usage: python bench/ha.py [--url postgresql://…] [--updates N] [--seconds S] [--no-failover]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
import requests

from bot.config import load_config
from bot.estate import Estate
from bot.sandbox.slack import SlackSandbox
from bot.service import StatusService
from bot.store.factory import open_store
from bot.store.postgres import PostgresStore
from bot.store.roundtrips import RoundTrips

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
LEADER_TIMEOUT = 10.0
API_KEY = "bench-key"
ALERT_CHANNEL = "C0ALERTS"


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


@contextmanager
def schema(url: str) -> Iterator[str]:
    """A fresh schema; yields a URL using it; dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


# --- 1. the bare loop -------------------------------------------------------------------


def bare_loop(url: str, count: int) -> list[float]:
    """INSERT a history row, UPDATE a version row, COMMIT; per-iteration seconds."""
    entry = '{"app": "Planning", "domain": "Actuals", "new_status": "OK", "message": "bench"}'
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE bare_board (id int PRIMARY KEY, version bigint)")
        conn.execute("CREATE TABLE bare_history (version bigint, entry jsonb)")
        conn.execute("INSERT INTO bare_board VALUES (1, 0)")
        conn.commit()
        timings = []
        for n in range(count):
            started = time.perf_counter()
            conn.execute("INSERT INTO bare_history VALUES (%s, %s::jsonb)", (n, entry))
            conn.execute("UPDATE bare_board SET version = %s WHERE id = 1", (n,))
            conn.commit()
            timings.append(time.perf_counter() - started)
    return timings


def _bare_writer(url: str, count: int, start: object, out: object) -> None:
    entry = '{"app": "Planning", "domain": "Actuals", "new_status": "OK", "message": "bench"}'
    with psycopg.connect(url) as conn:
        out.put("ready")  # type: ignore[attr-defined]
        start.wait()  # type: ignore[attr-defined]
        for n in range(count):
            conn.execute("INSERT INTO bare_history VALUES (%s, %s::jsonb)", (n, entry))
            conn.execute("UPDATE bare_board SET version = version + 1 WHERE id = 1")
            conn.commit()
    out.put(count)  # type: ignore[attr-defined]


def bare_parallel(url: str, writers: int, total: int) -> float:
    """Commits/s of the bare loop from ``writers`` processes contending for the same row."""
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bare_board (id int PRIMARY KEY, version bigint)")
        conn.execute("CREATE TABLE IF NOT EXISTS bare_history (version bigint, entry jsonb)")
        conn.execute("INSERT INTO bare_board VALUES (1, 0) ON CONFLICT DO NOTHING")
        conn.commit()
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    per = max(1, total // writers)
    procs = [ctx.Process(target=_bare_writer, args=(url, per, start, out)) for _ in range(writers)]
    for proc in procs:
        proc.start()
    for _ in procs:  # every writer connected before the clock starts
        assert out.get(timeout=120) == "ready"
    began = time.perf_counter()
    start.set()
    done = sum(out.get(timeout=300) for _ in procs)
    wall = time.perf_counter() - began
    for proc in procs:
        proc.join(timeout=30)
    return done / wall


# --- 2. durable set ---------------------------------------------------------------------


def _env(url: str | None, data_dir: Path) -> dict[str, str]:
    env = {"EPMPULSE_DATA_DIR": str(data_dir)}
    if url is not None:
        env["EPMPULSE_DATABASE_URL"] = url
    return env


@contextmanager
def round_trips(service: StatusService) -> Iterator[list[int]]:
    """The round trips of the block, in a one-item list once it ended (none on JSON)."""
    counted: list[int] = []
    if not isinstance(service.store, PostgresStore):
        yield counted
        return
    with RoundTrips(service.store) as trips:
        yield counted
    counted.append(trips.count)


def _writer(env: dict[str, str], name: str, count: int, start: object, out: object) -> None:
    config = load_config(env)
    service = StatusService(config.estate.layout, open_store(config.settings))
    keys = config.estate.domain_keys()
    timings = []
    service.board()  # warm: the store is open and read once
    out.put("ready")  # type: ignore[attr-defined]
    start.wait()  # type: ignore[attr-defined]
    with round_trips(service) as trips:
        for i in range(count):
            app, domain = keys[i % len(keys)]
            began = time.perf_counter()
            service.set(app, domain, "OK" if i % 2 else "Loading", f"{name}-{i}", by="api:bench")
            timings.append(time.perf_counter() - began)
    service.store.close()
    out.put((timings, trips))  # type: ignore[attr-defined]


def durable_sets(env: dict[str, str], writers: int, total: int, *, processes: bool) -> tuple:
    """(p50 ms, p99 ms, updates/s, round trips per set or None) of ``total`` sets.

    The round trips are counted during the timed sets (libpq writes a trace line per
    protocol message, a few microseconds per set).
    """
    per = max(1, total // writers)
    if processes:
        ctx = mp.get_context("spawn")
        start, out = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=_writer, args=(env, f"w{n}", per, start, out))
            for n in range(writers)
        ]
        for proc in procs:
            proc.start()
        for _ in procs:  # every writer has opened its store before the clock starts
            assert out.get(timeout=120) == "ready"
        began = time.perf_counter()
        start.set()
        answers = [out.get(timeout=300) for _ in procs]
        wall = time.perf_counter() - began
        timings = [t for times, _ in answers for t in times]
        trips = [n for _, counted in answers for n in counted]
        for proc in procs:
            proc.join(timeout=30)
    else:
        config = load_config(env)
        service = StatusService(config.estate.layout, open_store(config.settings))
        keys = config.estate.domain_keys()
        timings, lock = [], threading.Lock()

        def work(n: int) -> None:
            mine = []
            for i in range(per):
                app, domain = keys[(n + i) % len(keys)]
                began = time.perf_counter()
                service.set(app, domain, "OK", f"t{n}-{i}", by="api:bench")
                mine.append(time.perf_counter() - began)
            with lock:
                timings.extend(mine)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
        service.board()
        with round_trips(service) as trips:
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
        service.store.close()
    per_set = sum(trips) / len(timings) if trips else None
    return (
        percentile(timings, 50) * 1000,
        percentile(timings, 99) * 1000,
        len(timings) / wall,
        per_set,
    )


# --- 3 and 4: running instances ----------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """``epmpulse run`` processes on one database and one Slack sandbox.

    Without a database URL, one instance on the JSON store in its own data directory.
    """

    def __init__(self, sandbox: SlackSandbox, url: str | None, tmp: Path) -> None:
        self.sandbox = sandbox
        self.url = url
        self.tmp = tmp
        self.canvas_id = sandbox.create_canvas("# placeholder", title="EPM Status")
        sandbox.add_channel(ALERT_CHANNEL, "epm-alerts")  # else every alert is refused
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(self) -> int:
        """Start one instance; its API port once it answers."""
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "EPMPULSE_"))},
            "SLACK_BOT_TOKEN": self.sandbox.bot_token,
            "SLACK_APP_TOKEN": self.sandbox.app_token,
            "SLACK_API_URL": self.sandbox.api_url,
            "SLACK_CANVAS_ID": self.canvas_id,
            "SLACK_CHANNEL_ID": ALERT_CHANNEL,
            "EPMPULSE_LEADER_TIMEOUT_SECONDS": str(LEADER_TIMEOUT),
            "EPMPULSE_CANVAS_DEBOUNCE_SECONDS": "0.5",
            "EPMPULSE_API_KEYS": f"bench:{API_KEY}",
            "EPMPULSE_RATE_LIMITS": "status=1000000/minute,read=1000000/minute",
            "EPMPULSE_HTTP_PORT": str(port),
            "EPMPULSE_DATA_DIR": str(self.tmp / str(port)),
            "EPMPULSE_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        if self.url is not None:
            env["EPMPULSE_DATABASE_URL"] = self.url
        log = (self.tmp / f"{port}.log").open("wb")
        self.procs[port] = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        wait(lambda: self.health(port) is not None, 60)
        return port

    def health(self, port: int) -> dict | None:
        """The /health data of one instance (None while it does not answer)."""
        try:
            return requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).json()["data"]
        except (requests.RequestException, ValueError, KeyError):
            return None

    def leader(self) -> int | None:
        """The port of the instance that leads."""
        for port, proc in self.procs.items():
            if proc.poll() is None and (self.health(port) or {}).get("leader"):
                return port
        return None

    def kill(self, port: int) -> None:
        """SIGKILL one instance."""
        self.procs[port].send_signal(signal.SIGKILL)
        self.procs[port].wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM every live instance."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait(predicate: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``predicate`` holds; TimeoutError after ``timeout``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if predicate():
            return time.monotonic() - began
        time.sleep(0.02)
    raise TimeoutError(f"not within {timeout:g} s")


def post(session: requests.Session, port: int, domain: str, status: str, message: str) -> int:
    """POST /status; the HTTP status code."""
    answer = session.post(
        f"http://127.0.0.1:{port}/api/v1/status",
        json={"app": "Planning", "domain": domain, "status": status, "message": message},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    )
    return answer.status_code


def rest_throughput(ports: list[int], clients: int, seconds: float) -> tuple[float, int]:
    """(requests/s, failures) of ``clients`` threads posting round-robin over ``ports``."""
    done, failed, lock = [0], [0], threading.Lock()
    deadline = time.monotonic() + seconds

    def client(n: int) -> None:
        session = requests.Session()
        i = 0
        while time.monotonic() < deadline:
            code = post(session, ports[(n + i) % len(ports)], "Forecast", "OK", f"c{n}-{i}")
            with lock:
                done[0] += 1
                failed[0] += code != 200
            i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0] / (time.monotonic() - began), failed[0]


def failovers(cluster: Cluster, rounds: int) -> tuple[list[float], int, int]:
    """SIGKILL the leader ``rounds`` times: failover seconds, lost writes, duplicate alerts."""
    session = requests.Session()
    times, written = [], []
    for n in range(rounds):
        leader = wait_for_leader(cluster)
        survivor = next(
            p for p, proc in cluster.procs.items() if proc.poll() is None and p != leader
        )
        marker = f"failover-{n}-{uuid.uuid4().hex[:6]}"
        killed = time.monotonic()
        cluster.kill(leader)
        # The survivor takes writes at once; the change waits for the new leader's publish.
        status = "Error" if n % 2 == 0 else "OK"
        while post(session, survivor, "Budget", status, marker) != 200:
            time.sleep(0.05)
        written.append(marker)
        wait(lambda m=marker: m in cluster.sandbox.canvas_markdown(cluster.canvas_id), 60)
        times.append(time.monotonic() - killed)
        cluster.start()  # back to two instances
    time.sleep(3)  # let the last alerts arrive (and any duplicate)
    config = load_config({"EPMPULSE_DATABASE_URL": cluster.url, "EPMPULSE_DATA_DIR": "/tmp"})
    store = open_store(config.settings)
    messages = {e.get("message") for e in store.iter_history()}
    store.close()
    lost = sum(1 for m in written if m not in messages)
    texts = [m.text for m in cluster.sandbox.messages(ALERT_CHANNEL)]
    alerts = [
        c
        for c in cluster.sandbox.calls("chat.postMessage")
        if c.ok and c.args.get("channel") == ALERT_CHANNEL
    ]
    bodies = [str(c.args.get("blocks")) for c in alerts]
    duplicates = len(bodies) - len(set(bodies))
    print(f"    alerts posted: {len(texts)} for {rounds} status flips")
    return times, lost, duplicates


def terminate_session(cluster: Cluster, port: int) -> None:
    """pg_terminate_backend on one instance's leader session (the process lives on)."""
    name = f"epmpulse-leader {socket.gethostname()}:{cluster.procs[port].pid}"
    with psycopg.connect(cluster.url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (name,),
        )


def session_failovers(cluster: Cluster, rounds: int) -> list[float]:
    """Terminate the leader's session ``rounds`` times: seconds until a change is published."""
    session = requests.Session()
    times = []
    for n in range(rounds):
        leader = wait_for_leader(cluster)
        other = next(p for p, proc in cluster.procs.items() if proc.poll() is None and p != leader)
        marker = f"session-{n}-{uuid.uuid4().hex[:6]}"
        cut = time.monotonic()
        terminate_session(cluster, leader)
        while post(session, other, "Forecast", "Loading", marker) != 200:
            time.sleep(0.05)
        wait(lambda m=marker: m in cluster.sandbox.canvas_markdown(cluster.canvas_id), 60)
        times.append(time.monotonic() - cut)
        wait(lambda p=leader: cluster.leader() not in (None, p) or cluster.leader() == p, 30)
    return times


def alerts_across_failovers(
    cluster: Cluster, alerts: int, failovers: int
) -> tuple[int, int, int, int]:
    """Post ``alerts`` changes while failing the leader over: (made, posted, distinct, crashes)."""
    session = requests.Session()
    # Slack allows about one post a second per channel; this measures duplicates, not
    # Slack's pace, so the sandbox takes them as fast as they come.
    cluster.sandbox.configure_rate_limits(enabled=False)
    before = len(cluster.sandbox.calls("chat.postMessage"))
    per_round = alerts // failovers
    crashes = 0
    sent = 0
    for n in range(failovers):
        leader = wait_for_leader(cluster)
        writer = next(p for p, proc in cluster.procs.items() if proc.poll() is None and p != leader)
        for i in range(per_round):
            status = ("Error", "Warning")[sent % 2]
            while post(session, writer, "Actuals", status, f"flip {sent}") != 200:
                time.sleep(0.05)
            sent += 1
            if i == per_round // 2:  # fail over with alerts in flight
                if n % 2 == 0:
                    cluster.kill(leader)
                    crashes += 1
                    cluster.start()
                else:
                    terminate_session(cluster, leader)
    wait_for_leader(cluster)
    wait(lambda: len(_alert_bodies(cluster, before)) >= sent, 120)
    time.sleep(3)  # any duplicate would arrive now
    bodies = _alert_bodies(cluster, before)
    return sent, len(bodies), len(set(bodies)), crashes


def _alert_bodies(cluster: Cluster, skip: int) -> list[str]:
    calls = cluster.sandbox.calls("chat.postMessage")[skip:]
    return [
        str(c.args.get("blocks")) for c in calls if c.ok and c.args.get("channel") == ALERT_CHANNEL
    ]


def overlap_while_starting_slowly(url: str, slow: float = 5.0) -> float:
    """Milliseconds during which two leaders both made canvas edits (goal 0).

    Instance A's canvas start-up call is answered after ``slow`` seconds; A's session is
    terminated 1 s into that start, B starts and leads. Each instance's canvas title names
    it, so every edit the sandbox received is attributed.
    """
    from bot.canvas.part import CanvasPart
    from bot.leader import PostgresLeadership
    from bot.runtime import Runtime

    with tempfile.TemporaryDirectory() as tmp, SlackSandbox() as sandbox:
        canvas_id = sandbox.create_canvas("")

        def runtime(name: str) -> Runtime:
            folder = Path(tmp) / name
            folder.mkdir()
            (folder / "epmpulse.yml").write_text(f"canvas: {{title: {name}}}\n")
            config = load_config(
                {
                    "EPMPULSE_CONFIG": str(folder / "epmpulse.yml"),
                    "EPMPULSE_DATA_DIR": str(folder / "data"),
                    "EPMPULSE_DATABASE_URL": url,
                    "SLACK_BOT_TOKEN": sandbox.bot_token,
                    "SLACK_API_URL": sandbox.api_url,
                    "SLACK_CANVAS_ID": canvas_id,
                    "EPMPULSE_CANVAS_DEBOUNCE_SECONDS": "0.2",
                }
            )
            leadership = PostgresLeadership(url, timeout_seconds=LEADER_TIMEOUT, instance=name)
            built = Runtime(config, leadership=leadership)
            built.add_leader_only("canvas", lambda: CanvasPart(built))
            return built

        a, b = runtime("Leader-A"), runtime("Leader-B")
        sandbox.inject("canvases.sections.lookup", None, delay=slow)
        starting = threading.Thread(target=a.start)
        starting.start()
        time.sleep(1.0)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'epmpulse-leader Leader-A'"
            )
        b.start()
        starting.join()
        for n in range(3):  # B keeps publishing; A must not
            b.service.set("Planning", "Actuals", "Loading", f"after {n}", by="system")
            time.sleep(1.0)
        edits = sandbox.calls("canvases.edit")
        b.stop()
        a.stop()
    by_a = [c.at for c in edits if "Leader-A" in str(c.args)]
    by_b = [c.at for c in edits if "Leader-B" in str(c.args)]
    if not by_a or not by_b:
        return 0.0
    return max(0.0, min(max(by_a), max(by_b)) - max(min(by_a), min(by_b))) * 1000


def wait_for_leader(cluster: Cluster) -> int:
    """The leader's port, once there is one."""
    found: list[int] = []

    def probe() -> bool:
        port = cluster.leader()
        if port is not None:
            found.append(port)
        return port is not None

    wait(probe, LEADER_TIMEOUT + 10)
    return found[-1]


def main() -> None:
    """Run every measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("EPMPULSE_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--updates", type=int, default=800, help="sets per measurement")
    parser.add_argument("--seconds", type=float, default=5.0, help="REST measurement length")
    parser.add_argument("--rounds", type=int, default=5, help="failovers to measure")
    parser.add_argument(
        "--outages",
        type=lambda text: [float(v) for v in text.split(",") if v],
        default=[45.0, 130.0],
        help="database outages to measure, seconds (empty to skip)",
    )
    parser.add_argument(
        "--no-failover", action="store_true", help="stop after the REST figures (sections 1-3)"
    )
    args = parser.parse_args()
    print(f"estate: {len(Estate().domain_keys())} domains (built-in default)")

    with schema(args.url) as url:
        bare = bare_loop(url, args.updates)
    bare_p50 = percentile(bare, 50) * 1000
    bare_rate = len(bare) / sum(bare)
    print("1. bare PostgreSQL loop (INSERT + UPDATE + COMMIT, one connection)")
    print(f"    p50 {bare_p50:.2f} ms  p99 {percentile(bare, 99) * 1000:.2f} ms  {bare_rate:.0f}/s")
    bare_parallel_rates = {}
    for writers in (4, 16):
        with schema(args.url) as url:
            bare_parallel_rates[writers] = bare_parallel(url, writers, args.updates)
        print(
            f"    the same from {writers} processes on one row: "
            f"{bare_parallel_rates[writers]:.0f}/s"
        )

    print("2. durable set: p50 ms / p99 ms / updates/s (PostgreSQL: / round trips per set)")
    results: dict[tuple[str, str, int], tuple] = {}
    for kind in ("processes", "threads"):
        for writers in (1, 4, 16):
            with schema(args.url) as url, tempfile.TemporaryDirectory() as tmp:
                pg = durable_sets(
                    _env(url, Path(tmp)), writers, args.updates, processes=kind == "processes"
                )
            with tempfile.TemporaryDirectory() as tmp:
                js = durable_sets(
                    _env(None, Path(tmp)), writers, args.updates, processes=kind == "processes"
                )
            results[("pg", kind, writers)] = pg
            print(
                f"    {writers:2d} writer {kind:9s}  PostgreSQL {pg[0]:6.2f} / {pg[1]:6.2f} / "
                f"{pg[2]:6.0f} / {pg[3]:4.2f}   JSON {js[0]:6.2f} / {js[1]:6.2f} / {js[2]:6.0f}"
            )
    one = results[("pg", "processes", 1)]
    sixteen = results[("pg", "processes", 16)]
    threads16 = results[("pg", "threads", 16)]
    print(
        f"    goals: 1 writer p50 = {one[0] / bare_p50:.2f}x bare (<= 2x); "
        f"16 writers = {threads16[2] / bare_rate:.0%} (threads) / "
        f"{sixteen[2] / bare_rate:.0%} (processes) of the bare rate (>= 80%); "
        f"16 processes = {sixteen[2] / bare_parallel_rates[16]:.0%} of the bare loop "
        "from 16 processes"
    )

    print("3. REST POST /status, 8 clients")
    with tempfile.TemporaryDirectory() as tmp, SlackSandbox() as sandbox:
        on_json = Cluster(sandbox, None, Path(tmp))
        try:
            only = on_json.start()
            json_rate, failed_json = rest_throughput([only], 8, args.seconds)
        finally:
            on_json.stop()
    print(f"    JSON store, 1 instance  {json_rate:6.0f} req/s ({failed_json} failed)")
    with schema(args.url) as url, tempfile.TemporaryDirectory() as tmp, SlackSandbox() as sandbox:
        cluster = Cluster(sandbox, url, Path(tmp))
        try:
            first = cluster.start()
            wait_for_leader(cluster)
            single, failed_one = rest_throughput([first], 8, args.seconds)
            second = cluster.start()
            double, failed_two = rest_throughput([first, second], 8, args.seconds)
            print(
                f"    PostgreSQL, 1 instance  {single:6.0f} req/s ({failed_one} failed), "
                f"{single / json_rate:.0%} of JSON (goal >= 70%)"
            )
            print(f"    PostgreSQL, 2 instances {double:6.0f} req/s ({failed_two} failed)")
            if args.no_failover:
                return
            times, lost, duplicates = failovers(cluster, args.rounds)
            print(f"4. failover (SIGKILL leader -> survivor publishes), {args.rounds} rounds")
            print(
                f"    median {statistics.median(times):.2f} s  max {max(times):.2f} s  "
                f"(goal <= {LEADER_TIMEOUT + 2:g} s); lost writes {lost}; "
                f"duplicate alerts {duplicates}"
            )
            terminated = session_failovers(cluster, args.rounds)
            print(f"5. failover (leader's session terminated -> published), {args.rounds} rounds")
            print(
                f"    median {statistics.median(terminated):.2f} s  max {max(terminated):.2f} s  "
                f"(goal <= {LEADER_TIMEOUT + 2:g} s)"
            )
            made, posted, distinct, crashes = alerts_across_failovers(cluster, 200, 20)
            print("7. 200 alerts across 20 failovers (10 SIGKILL, 10 terminated sessions)")
            print(
                f"    {made} changes, {posted} alerts posted, {distinct} distinct: "
                f"{made - distinct} lost, {posted - distinct} duplicate(s) after {crashes} "
                "crash(es) (goal: none lost, at most one duplicate per crash)"
            )
        finally:
            cluster.stop()
    with schema(args.url) as url:
        overlap = overlap_while_starting_slowly(url)
    print("6. two leaders' side effects while parts start slowly (Slack answering in 5 s)")
    print(f"    overlap {overlap:.0f} ms (goal 0 ms)")
    if args.outages:
        from outage import busy  # bench/outage.py, beside this script

        print("8. first successful write after an outage (goal <= 15 s)")
        for outage in args.outages:
            with schema(args.url) as url:
                print(f"    {outage:g} s outage: {busy(url, outage):.1f} s")


if __name__ == "__main__":
    main()
