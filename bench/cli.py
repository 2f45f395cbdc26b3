"""Benchmark the one-shot CLI against the bare interpreter's start-up.

Prints, in one run:
  1. for each one-shot command (``status``, ``status APP DOMAIN``, ``set``, ``history``,
     ``render``, ``close``, ``report``, ``export`` over 1,000 and 100,000 changes), run as a
     fresh process under a close calendar that counts English public holidays: the median
     wall time and its ratio to ``python -c pass`` on the first run after the YAML file
     changed (each run edits it first) and in the steady state (goal, SPEC §19: both
     within 5x);
  2. what importing the libraries a one-shot command might load costs, as a ratio to
     ``python -c pass`` (msgspec, proposed for the stored records, when installed);
  3. sequential ``epmpulse set`` calls per second (within 5x start-up: at least a fifth of
     the bare rate), next to a naive script doing the same durable write (lock, rewrite the
     state, append the history, fsync) and to ``python -c pass`` in a loop, so a slow
     machine shows as such;
  4. the export's peak memory (the process's own high-water mark, VmHWM) for a
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
from importlib.util import find_spec
from pathlib import Path

from bot.store import JsonStore, WorkingState

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


def median_time(
    args: list[str], env: dict[str, str], runs: int, *, edit: Path | None = None
) -> float:
    """The median wall time of ``runs`` fresh processes.

    ``edit``: a YAML file changed before each run, as the first command after a change to
    the configuration sees it.
    """
    times = []
    for n in range(runs):
        if edit is not None:
            edit.write_text(CLOSE_YAML + f"canvas: {{title: Board {n}}}\n", encoding="utf-8")
        times.append(run(args, env))
    return statistics.median(times)


def add_archives(data_dir: Path) -> None:
    """Archived closes, so that ``close PERIOD`` and ``report`` have something to show."""
    from bot.close.archive import archive_key
    from bot.report.samples import sample_archives

    archives = sample_archives(DOMAINS, "2026-10")

    def seed(work: WorkingState) -> None:
        for period, archive in archives.items():
            work.put_meta(archive_key(period), archive)

    store = JsonStore(data_dir)
    try:
        store.commit(seed)
    finally:
        store.close()


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
    add_archives(small)
    config = scratch / "close.yml"
    config.write_text(CLOSE_YAML, encoding="utf-8")
    env = {**os.environ, "EPMPULSE_DATA_DIR": str(small), "EPMPULSE_CONFIG": str(config)}
    env.pop("EPMPULSE_LOG_LEVEL", None)
    cli = cli_command()
    print(f"running {' '.join(cli)}")
    runs = options.runs
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "bot", quiet=1)
    for data_dir in (small, big):  # the public holidays are worked out once per data directory
        run([*cli, "status"], {**env, "EPMPULSE_DATA_DIR": str(data_dir)})

    baseline = median_time([sys.executable, "-c", "pass"], env, runs)
    commands = {
        "status": (["status"], env),
        "status APP DOMAIN": (["status", *DUE], env),
        "set": (["set", *DUE, "OK", "bench"], env),
        "history": (["history", *DUE], env),
        "render": (["render"], env),
        "close PERIOD": (["close", "2026-10"], env),
        "report": (["report", "--out", str(scratch / "report.png")], env),
        "export (1k lines)": (["export"], env),
        "export (100k lines)": (["export"], {**env, "EPMPULSE_DATA_DIR": str(big)}),
    }
    print(f"python -c pass: {baseline * 1000:.1f} ms")
    print(f"{'command':<22} {'first ms':>9} {'x pass':>7} {'steady ms':>10} {'x pass':>7}")
    for name, (argv, command_env) in commands.items():
        each = max(3, runs // 3) if name.startswith(("export (100k", "report")) else runs
        first = median_time([*cli, *argv], command_env, each, edit=config)
        steady = median_time([*cli, *argv], command_env, each)
        print(
            f"{name:<22} {first * 1000:>9.1f} {first / baseline:>7.1f} "
            f"{steady * 1000:>10.1f} {steady / baseline:>7.1f}"
        )

    for module in ("pydantic", "yaml", "holidays", "msgspec", "bot.model"):
        if find_spec(module) is not None:
            seconds = median_time([sys.executable, "-c", f"import {module}"], env, runs)
            print(f"import {module}: {seconds / baseline:.2f}x pass")

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
        rss = peak_kib(["export"], dir_env)
        print(f"export peak memory, {label}-line history: {rss / 1024:.1f} MiB (VmHWM)")


if __name__ == "__main__":
    main()
