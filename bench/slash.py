"""Benchmark: 500 ``/epmpulse`` commands through the Slack sandbox's socket mode at 20/s.

Runs the real Slack part (Bolt over socket mode) against the bundled sandbox on
loopback with a fresh data directory, sends a mix of queries and sets on an open-loop
schedule, and prints ack latency (what Slack's 3 s limit is about), the latency of set
replies (which are sent only after the durable write), and whether every set can be
read back from the store after shutdown.

Then, with every domain under four-eyes sign-off (SPEC §18), it posts ``--approvals``
requests through the sign-off outbox and clicks **Approve** on each message, printing
the ack latency of those clicks and whether each committed exactly one approval.

    python bench/slash.py [--commands 500] [--rate 20] [--set-share 0.4] [--approvals 100]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot.config import load_config
from bot.model import Status
from bot.sandbox.slack import SlackSandbox
from bot.service import StatusService
from bot.slack.client import build_web_client
from bot.slack.part import SlackPart
from bot.slack.signoff import APPROVE_ACTION
from bot.slack.signoff_outbox import SignOffOutbox
from bot.store import JsonStore

APPROVER = "U0BENCHAPPROVER"
SIGN_OFF_YAML = f"""
close:
  sign_off: {{domains: all, approvers: [{APPROVER}]}}
"""
CHANNEL = "C0SIGNOFF"

QUERIES = (
    "status",
    "status planning",
    "status fccs consolidation",
    "history arcs reconciliation 5",
)


@dataclass
class Sent:
    """One command as sent: its text, wall-clock send time and ack latency."""

    text: str
    marker: str | None
    sent_at: float = 0.0
    ack_latency: float = float("nan")


def plan(count: int, set_share: float, keys: list[tuple[str, str]], seed: int) -> list[Sent]:
    """The commands to send: queries and sets (each set carries a unique marker)."""
    rng = random.Random(seed)
    statuses = [s.value for s in Status]
    commands = []
    for n in range(count):
        if rng.random() < set_share:
            app, domain = rng.choice(keys)
            marker = f"bench-{n:04d}"
            text = f'status "{app}" "{domain}" {rng.choice(statuses).lower()} {marker} load step'
            commands.append(Sent(text, marker))
        else:
            commands.append(Sent(rng.choice(QUERIES), None))
    return commands


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def describe(name: str, seconds: list[float]) -> str:
    """p50/p99/max in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return (
        f"{name:<34} n={len(ms):<4} p50={percentile(ms, 50):7.1f} ms  "
        f"p99={percentile(ms, 99):7.1f} ms  max={max(ms):7.1f} ms  "
        f"mean={statistics.fmean(ms):6.1f} ms"
    )


def run(count: int, rate: float, set_share: float, seed: int) -> int:
    """Run the benchmark and print the figures; 0 when every set is durable."""
    data_dir = Path(tempfile.mkdtemp(prefix="epmpulse-bench-"))
    with SlackSandbox() as sandbox:
        config = load_config(
            {
                "SLACK_BOT_TOKEN": sandbox.bot_token,
                "SLACK_APP_TOKEN": sandbox.app_token,
                "SLACK_API_URL": sandbox.api_url,
                "EPMPULSE_DATA_DIR": str(data_dir),
            },
            cwd=data_dir,
        )
        store = JsonStore(config.settings.data_dir)
        service = StatusService(config.estate.layout, store)
        part = SlackPart(config, service)
        part.start()
        sandbox.wait_connected(5)
        commands = plan(count, set_share, config.estate.domain_keys(), seed)

        def send(item: Sent, due: float) -> None:
            time.sleep(max(0.0, due - time.perf_counter()))
            item.sent_at = time.time()
            item.ack_latency = sandbox.send_command(item.text, timeout=5).latency

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = [
                pool.submit(send, item, started + n / rate) for n, item in enumerate(commands)
            ]
            for future in futures:
                future.result()
        elapsed = time.perf_counter() - started
        sandbox.wait_for_response(count=count, timeout=30)
        part.stop()
        store.close()
        posts = sandbox.responses()

    # A set's reply shows the new record, whose message starts with the set's marker.
    replied_at: dict[str, float] = {}
    for post in posts:
        for block in post.body.get("blocks") or []:
            for word in str((block.get("text") or {}).get("text", "")).split():
                if word.startswith("bench-"):
                    replied_at.setdefault(word, post.at)
    sets = [c for c in commands if c.marker]
    set_replies = [replied_at[c.marker] - c.sent_at for c in sets if c.marker in replied_at]
    refused = [p for p in posts if p.status != 200]

    durable = check_durable(config.estate.domain_keys(), sets, data_dir)
    print(f"commands sent: {count} ({len(sets)} sets) in {elapsed:.1f} s = {count / elapsed:.1f}/s")
    print(describe("ack latency (all commands)", [c.ack_latency for c in commands]))
    print(describe("set reply latency (durable write)", set_replies))
    print(f"replies: {len(posts)} posted, {len(refused)} refused by Slack")
    print(f"durability: {durable}")
    ok = durable.startswith("all") and not refused and len(set_replies) == len(sets)
    return 0 if ok else 1


def check_durable(keys: list[tuple[str, str]], sets: list[Sent], data_dir: Path) -> str:
    """Re-open the store and check every set is in the history and the last one per domain won."""
    config = load_config({"EPMPULSE_DATA_DIR": str(data_dir)}, cwd=data_dir)
    store = JsonStore(config.settings.data_dir)
    try:
        service = StatusService(config.estate.layout, store)
        found: set[str] = set()
        for app, domain in keys:
            for entry in service.history(app, domain, limit=len(sets) + 10):
                found.update(w for w in entry.message.split() if w.startswith("bench-"))
        missing = [c.marker for c in sets if c.marker not in found]
        board_ok = all(
            (record.message.split() or [""])[0] in found
            for records in service.board().values()
            for record in records
            if record.message
        )
    finally:
        store.close()
    if missing or not board_ok:
        return f"MISSING {len(missing)} of {len(sets)} sets: {missing[:5]}"
    return f"all {len(sets)} sets read back from {data_dir}"


def run_approvals(count: int) -> int:
    """Click Approve on ``count`` request messages; print the ack p99; 0 when all committed."""
    data_dir = Path(tempfile.mkdtemp(prefix="epmpulse-bench-signoff-"))
    (data_dir / "epmpulse.yml").write_text(SIGN_OFF_YAML, encoding="utf-8")
    with SlackSandbox() as sandbox:
        sandbox.add_channel(CHANNEL, "close")
        config = load_config(
            {
                "SLACK_BOT_TOKEN": sandbox.bot_token,
                "SLACK_APP_TOKEN": sandbox.app_token,
                "SLACK_API_URL": sandbox.api_url,
                "SLACK_CHANNEL_ID": CHANNEL,
                "EPMPULSE_DATA_DIR": str(data_dir),
                "EPMPULSE_CONFIG": str(data_dir / "epmpulse.yml"),
            },
            cwd=data_dir,
        )
        store = JsonStore(config.settings.data_dir)
        service = StatusService(config.estate.layout, store)
        part = SlackPart(config, service)
        part.start()
        sandbox.wait_connected(5)
        outbox = SignOffOutbox(service, build_web_client(config.settings), CHANNEL)
        keys = config.estate.domain_keys()
        latencies: list[float] = []
        for n in range(count):
            app, domain = keys[n % len(keys)]
            service.set(app, domain, "Loading", by="system")
            service.set(app, domain, "OK", f"bench-{n:04d}", by="api:bench")
            outbox.run_once()
            message = sandbox.messages(CHANNEL)[-1]
            before = len(sandbox.responses())
            ack = sandbox.message_action(CHANNEL, message.ts, APPROVE_ACTION, user_id=APPROVER)
            latencies.append(ack.latency)
            sandbox.wait_for_response(count=before + 1, timeout=10)
        part.stop()
        approved = [
            e
            for app, domain in keys
            for e in service.history(app, domain, limit=count * 3)
            if e.approved_by == f"slack:{APPROVER}"
        ]
        store.close()
    print(describe("ack latency (Approve clicks)", latencies))
    print(f"approvals committed: {len(approved)} of {count}")
    return 0 if len(approved) == count else 1


def main() -> int:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="commands per second")
    parser.add_argument("--set-share", type=float, default=0.4, help="fraction that are sets")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--approvals", type=int, default=100, help="Approve clicks (0: none)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    status = run(args.commands, args.rate, args.set_share, args.seed)
    if args.approvals:
        status |= run_approvals(args.approvals)
    return status


if __name__ == "__main__":
    sys.exit(main())
