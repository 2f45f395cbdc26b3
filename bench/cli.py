"""Benchmark the one-shot CLI against the bare interpreter's start-up.

Prints, in one run:
  1. median wall time of ``python -c pass``, ``epmpulse status``, ``set``, ``history``
     and ``export`` (over a 100,000-line history), each as a fresh process, with the
     ratio to ``python -c pass`` (goal: ``status`` within 5x); and of the first
     ``status`` after the configuration changed, which validates it with pydantic; and
     ``status``/``set`` of a domain with a deadline under a close calendar that counts
     English public holidays;
  2. sequential ``epmpulse set`` calls per second (goal: at least 10), next to a naive
     script doing the same durable write (lock, rewrite the state, append the history,
     fsync) and to ``python -c pass`` in a loop, so a slow machine shows as such;
  3. the export's peak memory (the process's own high-water mark, VmHWM) for a
     1,000- and a 100,000-line history: flat, because the history is read as a stream.

The package is byte-compiled first: an installed package is, and a checkout run with
PYTHONDONTWRITEBYTECODE would otherwise compile every module on every run.

Usage: python bench/cli.py [--runs N] [--dir PATH]
"""

from __future__ import annotations

import argparse
import compileall
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.store import JsonStore

STATUSES = ("Loading", "OK", "Warning", "Error", "Pending")
# The README's close calendar: deadlines counted in English working days.
CLOSE_YAML = """\
close:
  timezone: Europe/London
  holidays: {country: GB, subdivision: ENG, extra: ["2026-12-24"]}
  deadlines: {Planning/Actuals: "WD2 12:00", FCCS/Consolidation: "WD4 17:00"}
  depends_on: {FCCS/Consolidation: [Planning/Actuals]}
"""
DUE = ("Planning", "Actuals")  # a domain with a deadline
DOMAINS = (("Planning", "Actuals"), ("Planning", "Forecast"), ("FCCS", "Consolidation"))


def make_history(data_dir: Path, lines: int) -> None:
    """A data directory whose history holds ``lines`` changes (the board is rebuilt from it)."""
    data_dir.mkdir(mode=0o700, parents=True)
    with open(data_dir / "history.jsonl", "w", encoding="utf-8") as handle:
        for n in range(lines):
            app, domain = DOMAINS[n % len(DOMAINS)]
            entry = {
                "app": app,
                "domain": domain,
                "old_status": STATUSES[(n - 1) % len(STATUSES)],
                "new_status": STATUSES[n % len(STATUSES)],
                "message": f'GL load #{n}, "batch" ü',
                "by": "api:gl",
                "at": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00Z",
                "version": n + 1,
            }
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    logging.disable(logging.ERROR)  # the rebuild below is logged loudly; expected here
    JsonStore(data_dir).close()  # rebuilds state.json from the history, once
    logging.disable(logging.NOTSET)


# Runs the CLI, then reports the process's own peak RSS. (wait4's ru_maxrss would count
# the parent's pages at fork time, i.e. this benchmark's memory, not the export's.)
_PEAK = """
import re, sys
from bot.cli import main
code = main(sys.argv[1:])
status = open("/proc/self/status", encoding="ascii").read()
print(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1), file=sys.stderr)
sys.exit(code)
"""


# The same job as `epmpulse set`, written naively: lock, read, rewrite, append, fsync.
_NAIVE_SET = """
import fcntl, json, os, sys
from datetime import UTC, datetime
app, domain, status = sys.argv[1:4]
data_dir = os.environ["EPMPULSE_DATA_DIR"]
with open(os.path.join(data_dir, ".lock"), "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    path = os.path.join(data_dir, "state.json")
    with open(path, encoding="utf-8") as handle:
        state = json.load(handle)
    records = state["records"].setdefault(app, {})
    old = records.get(domain, {}).get("status", "Pending")
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    records[domain] = {"app": app, "domain": domain, "status": status, "message": "",
                       "updated_at": now, "updated_by": "system", "jobs": [], "since": now}
    state["version"] += 1
    entry = {"app": app, "domain": domain, "old_status": old, "new_status": status,
             "message": "", "by": "system", "at": now, "version": state["version"]}
    state["last_changes"] = [entry]
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(path + ".tmp", path)
    with open(os.path.join(data_dir, "history.jsonl"), "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\\n")
        handle.flush()
        os.fsync(handle.fileno())
print(f"{app} {domain}: {old} -> {status}")
"""


def run(args: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one process; fails loudly on a non-zero exit."""
    start = time.perf_counter()
    subprocess.run(args, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def peak_kib(argv: list[str], env: dict[str, str]) -> int:
    """The peak resident memory (KiB) of the CLI running ``argv``."""
    result = subprocess.run(
        [sys.executable, "-c", _PEAK, *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    return int(result.stderr.strip().splitlines()[-1])


def cli_command() -> list[str]:
    """``epmpulse`` as users run it: the console script beside this interpreter, when
    installed (``pip install -e .`` puts it there), else ``python -m bot``."""
    script = Path(sys.executable).with_name("epmpulse")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def median_time(args: list[str], env: dict[str, str], runs: int, *, vary: bool = False) -> float:
    """The median wall time of ``runs`` fresh processes.

    ``vary``: a different (valid) setting each run, so each one validates the whole
    configuration, as the first command after a change does.
    """
    return statistics.median(
        run(args, {**env, "EPMPULSE_HTTP_PORT": str(20000 + n)} if vary else env)
        for n in range(runs)
    )


def main() -> None:
    """Run every measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="processes per figure")
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory")
    options = parser.parse_args()
    scratch = Path(options.dir or tempfile.mkdtemp(prefix="epmpulse-bench-cli-"))
    big, small = scratch / "big", scratch / "small"
    make_history(big, 100_000)
    make_history(small, 1_000)
    env = {**os.environ, "EPMPULSE_DATA_DIR": str(big)}
    env.pop("EPMPULSE_LOG_LEVEL", None)
    (scratch / "close.yml").write_text(CLOSE_YAML, encoding="utf-8")
    close_env = {**env, "EPMPULSE_CONFIG": str(scratch / "close.yml")}
    cli = cli_command()
    print(f"running {' '.join(cli)}")
    runs = options.runs
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "bot", quiet=1)

    baseline = median_time([sys.executable, "-c", "pass"], env, runs)
    figures = {
        "python -c pass": baseline,
        "status, configuration changed": median_time([*cli, "status"], env, runs, vary=True),
        "epmpulse status": median_time([*cli, "status"], env, runs),  # 1st run validates
        "epmpulse set": median_time([*cli, "set", "Planning", "Actuals", "OK", "bench"], env, runs),
        "epmpulse history": median_time([*cli, "history", "Planning", "Actuals"], env, runs),
        "epmpulse export (100k lines)": median_time([*cli, "export"], env, max(3, runs // 3)),
        "status APP DOMAIN, GB close": median_time([*cli, "status", *DUE], close_env, runs),
        "set APP DOMAIN, GB close": median_time([*cli, "set", *DUE, "OK"], close_env, runs),
    }
    print(f"{'command':<30} {'median ms':>10} {'x pass':>8}")
    for name, seconds in figures.items():
        print(f"{name:<30} {seconds * 1000:>10.1f} {seconds / baseline:>8.1f}")

    count = 50
    naive = [sys.executable, "-c", _NAIVE_SET]
    for name, command in (("epmpulse set", [*cli, "set"]), ("naive script", naive)):
        start = time.perf_counter()
        for n in range(count):
            run([*command, "FCCS", "Consolidation", STATUSES[n % len(STATUSES)]], env)
        print(f"sequential {name}: {count / (time.perf_counter() - start):.1f}/s")
    print(f"python -c pass in a loop: {1 / baseline:.1f}/s")

    for label, data_dir in (("1k", small), ("100k", big)):
        dir_env = {**env, "EPMPULSE_DATA_DIR": str(data_dir)}
        run([*cli, "status"], dir_env)  # validates once, as any first command does
        rss = peak_kib(["export"], dir_env)
        print(f"export peak memory, {label}-line history: {rss / 1024:.1f} MiB (VmHWM)")


if __name__ == "__main__":
    main()
