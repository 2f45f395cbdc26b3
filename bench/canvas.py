"""Canvas publishing under load: 1,000 status changes in 10 s while ``run`` publishes.

The whole app (``build_runtime``: Slack socket mode, canvas, REST API, poller) runs
in-process against the Slack sandbox with Slack's Tier 3 limit on ``canvases.edit``.
A writer makes the changes through the status service at an even pace; afterwards the
canvas must show the final board.

Figures: ``canvases.edit`` calls made from the first change until the canvas caught up,
429s received, freshness (last change -> canvas shows it) and dropped changes (final
per-domain changes missing from the canvas, plus changes missing from the history).

Goals (issue 4): calls <= seconds / debounce + 2, zero 429s, zero dropped, freshness <=
debounce + 1 s. Exit status 0 when every goal is met.

    python bench/canvas.py [--changes 1000] [--seconds 10] [--debounce 3] [--apps 20 --domains 10]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bot.app import build_runtime
from bot.canvas.render import render_board
from bot.config import Config, load_config
from bot.model import Status
from bot.runtime import Runtime
from bot.sandbox.slack import SlackSandbox

APPS, DOMAINS_PER_APP = 20, 10
WAIT_SECONDS = 30.0


def bench_config(
    sandbox: SlackSandbox, canvas_id: str, work: Path, debounce: float, shape: tuple[int, int]
) -> Config:
    """An estate of ``shape`` (apps, domains each), the sandbox's tokens, a temp data dir."""
    apps, domains = shape
    estate = {
        "apps": {
            f"App{a:02d}": {"domains": [f"Domain{d:02d}" for d in range(domains)]}
            for a in range(apps)
        },
        "canvas": {"title": "EPM Status (bench)", "timezone": "UTC"},
    }
    path = work / "epmpulse.yml"
    path.write_text(yaml.safe_dump(estate), encoding="utf-8")
    env = {
        "SLACK_BOT_TOKEN": sandbox.bot_token,
        "SLACK_APP_TOKEN": sandbox.app_token,
        "SLACK_API_URL": sandbox.api_url,
        "SLACK_CANVAS_ID": canvas_id,
        "EPMPULSE_CONFIG": str(path),
        "EPMPULSE_DATA_DIR": str(work / "data"),
        "EPMPULSE_HTTP_PORT": "0",
        "EPMPULSE_CANVAS_DEBOUNCE_SECONDS": str(debounce),
    }
    return load_config(env, cwd=work)


def write_changes(runtime: Runtime, count: int, seconds: float) -> tuple[float, float]:
    """Make ``count`` changes evenly over ``seconds``; (first, last) commit times."""
    keys = runtime.config.estate.domain_keys()
    statuses = list(Status)
    pick = random.Random(4)  # the same sequence every run
    service = runtime.service
    started = time.monotonic()
    last = started
    for n in range(count):
        delay = started + n * seconds / count - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        app, domain = pick.choice(keys)
        service.set(app, domain, pick.choice(statuses), f"change {n}", by="api:bench")
        last = time.monotonic()
    return started, last


def wait_until_fresh(sandbox: SlackSandbox, runtime: Runtime, canvas_id: str) -> str | None:
    """Wait (bounded) until the canvas shows the final board; its markdown, or None."""
    canvas = runtime.config.estate.canvas
    expected = render_board(runtime.service.board(), title=canvas.title, timezone=canvas.timezone)
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        markdown = sandbox.canvas_markdown(canvas_id)
        if markdown == expected:
            return markdown
        time.sleep(0.01)
    return None


def dropped_changes(runtime: Runtime, markdown: str, count: int) -> int:
    """Final per-domain changes not on the canvas, plus changes missing from the history."""
    missing = 0
    for records in runtime.service.board().values():
        for record in records:
            if record.message and f"| {record.message} |" not in markdown:
                missing += 1
    history = runtime.store.history()
    return missing + max(0, count - sum(1 for e in history if e.get("by") == "api:bench"))


def run(changes: int, seconds: float, debounce: float, shape: tuple[int, int]) -> bool:
    """Run the benchmark once, print the figures; True when every goal is met."""
    with tempfile.TemporaryDirectory(prefix="epmpulse-bench-") as tmp, SlackSandbox() as sandbox:
        canvas_id = sandbox.create_canvas(title="EPM Status (bench)")
        runtime = build_runtime(bench_config(sandbox, canvas_id, Path(tmp), debounce, shape))
        runtime.start()
        try:
            sandbox.wait_connected(5.0)
            sandbox.wait_for_call("canvases.edit", timeout=5.0)  # the initial board
            calls_before = len(sandbox.calls("canvases.edit"))
            first, last = write_changes(runtime, changes, seconds)
            markdown = wait_until_fresh(sandbox, runtime, canvas_id)
            fresh_after = time.monotonic() - last
            edits = sandbox.calls("canvases.edit")[calls_before:]
            limited = [c for c in sandbox.calls() if c.status == 429]
            dropped = None if markdown is None else dropped_changes(runtime, markdown, changes)
        finally:
            runtime.stop()
    limit = seconds / debounce + 2
    figures = [
        ("changes applied", f"{changes} in {last - first:.2f} s", True),
        ("canvases.edit calls", f"{len(edits)} (goal <= {limit:.1f})", len(edits) <= limit),
        ("429s received", f"{len(limited)} (goal 0)", not limited),
        (
            "freshness after last change",
            f"{fresh_after:.2f} s (goal <= {debounce + 1:.1f} s)"
            if markdown is not None
            else f"not fresh after {WAIT_SECONDS:.0f} s",
            markdown is not None and fresh_after <= debounce + 1,
        ),
        (
            "dropped changes",
            f"{dropped} (goal 0)" if dropped is not None else "unknown: canvas not fresh",
            dropped == 0,
        ),
    ]
    print(
        f"canvas bench: {changes} changes over {seconds:g} s, debounce {debounce:g} s, "
        f"{shape[0] * shape[1]} domains, Slack Tier 3 limits on "
        f"(canvases.edit {sandbox.rate_limit('canvases.edit')}/min)"
    )
    for name, value, ok in figures:
        print(f"  {name:<28} {value:<34} {'PASS' if ok else 'FAIL'}")
    sizes = [len(c.args["changes"][0]["document_content"]["markdown"]) for c in edits]
    if sizes:
        print(f"  {'document size':<28} {max(sizes) / 1024:.0f} KiB per call")
    return all(ok for _, _, ok in figures)


def main() -> int:
    """Parse arguments, run, exit 0 when every goal is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--debounce", type=float, default=3.0)
    parser.add_argument("--apps", type=int, default=APPS)
    parser.add_argument("--domains", type=int, default=DOMAINS_PER_APP, help="per app")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ok = run(args.changes, args.seconds, args.debounce, (args.apps, args.domains))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
