"""The ``epmpulse`` commands: one handler per sub-command of :mod:`bot.cli`.

Each handler takes the parsed arguments and the configuration, prints its result and
returns the exit code. Every heavier part (Bolt, FastAPI, the EPM client, matplotlib,
the sandboxes) is imported inside the handler that needs it, so one-shot commands stay
fast (SPEC §19; ``tests/core/test_cli_imports.py`` keeps it that way).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import EpmPulseError, ValidationError
from bot.logs import setup_logging

if TYPE_CHECKING:
    from bot.config import Config
    from bot.layout import Layout
    from bot.model import DomainRecord
    from bot.service import StatusService

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def board_layout(config: Config) -> Layout:
    """The board's layout, its close calendar's public holidays read from the cache."""
    from bot.close.holiday_cache import with_cached_holidays
    from bot.model import utcnow

    layout = config.estate.layout
    return with_cached_holidays(layout, config.settings.data_dir, utcnow().year)


@contextmanager
def open_service(config: Config) -> Iterator[StatusService]:
    """The status service over the configured store (the database, or the data directory)."""
    from bot.service import StatusService
    from bot.store.factory import open_store

    store = open_store(config.settings)
    try:
        yield StatusService(board_layout(config), store)
    finally:
        store.close()


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse status [APP [DOMAIN]]``."""
    from bot import plaintext

    with open_service(config) as service:
        if args.app is None:
            board = service.board()
            lines = plaintext.board_lines(board, _overdue(service, board))
        elif args.domain is None:
            app = service.layout.resolve_app(args.app)
            board = {app: service.app_board(app)}
            lines = plaintext.board_lines(board, _overdue(service, board))
        else:
            record = service.get(args.app, args.domain)
            lines = [record.app, f"  {plaintext.record_line(record)}"]
            lines += [f"  {line}" for line in _close_lines(service, record)]
            lines.append("Last changes:")
            recent = service.history(*_key(record), 5)
            lines += [f"  {line}" for line in plaintext.history_lines(recent)]
    print("\n".join(lines))
    return EXIT_OK


def cmd_set(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse set APP DOMAIN STATUS [MESSAGE…]``."""
    with open_service(config) as service:
        message = " ".join(args.message)
        change = service.set(args.app, args.domain, args.status, message, by="system")
        # The close model loads only with a close: section (start-up time, SPEC §12).
        closing = service.layout.close is not None
        waits = service.close.show_one(change.new).waiting_on if closing else []
    if change.awaiting_approval:  # SPEC §18: committed as a request, not applied
        print(
            f"{change.new.app} {change.new.domain}: OK awaiting approval "
            f"(stays {change.new.status} until an approver signs it off in Slack)"
        )
    else:
        print(f"{change.new.app} {change.new.domain}: {change.old.status} -> {change.new.status}")
    if waits:  # allowed, but worth saying (SPEC §11)
        print(f"  waiting on: {', '.join(waits)}")
    return EXIT_OK


def cmd_history(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse history APP DOMAIN [N]`` (or ``-n N``, but not both)."""
    from bot import plaintext

    if args.count is not None and args.n is not None:
        raise ValidationError(
            f"Give the number of changes once: {args.count} (N) or -n {args.n}, not both."
        )
    count = next((n for n in (args.count, args.n) if n is not None), 10)
    with open_service(config) as service:
        entries = service.history(args.app, args.domain, count)
    print("\n".join(plaintext.history_lines(entries)))
    return EXIT_OK


def cmd_export(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse export [--since ISO] [--until ISO] [--format csv|jsonl]``: streams stdout."""
    from bot import export
    from bot.store.factory import open_store

    since = export.parse_instant(args.since, "--since") if args.since else None
    until = export.parse_instant(args.until, "--until") if args.until else None
    export.check_window(since, until)
    fmt = export.parse_format(args.format)
    store = open_store(config.settings)
    chunks = export.export_chunks(store.iter_history(), fmt, since=since, until=until)
    try:
        _write_stream(chunks)
    except BrokenPipeError:
        # The reader (e.g. `| head`) has gone: that is the end of the export, not an error.
        _silence_stdout()
    finally:
        store.close()
    return EXIT_OK


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse check``: one line per check; exit 1 when any check fails.

    Only its result lines are printed: the libraries' logs (retries, say) only with -v.
    """
    from bot.checks import run_checks

    settings = config.settings
    level = settings.log_level if args.verbose else "CRITICAL"
    setup_logging(level, settings.log_format, config.secret_values())
    checks = run_checks(config)
    for name, check in checks.items():
        print(f"{'ok  ' if check.ok else 'FAIL'} {name}: {check.detail}")
    return EXIT_OK if all(check.ok for check in checks.values()) else EXIT_FAILURE


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse run``: every part in one process until SIGTERM/SIGINT.

    With a database, first check that its session is stable: behind a transaction-mode
    pooler leader election cannot work (ConfigError, exit 2).
    """
    from bot.app import start_runtime

    url = config.settings.database_url
    if url is not None:
        from bot.store.pooler import check_stable_session

        check_stable_session(url.get_secret_value())
    runtime = start_runtime(config)
    logger.info("epmpulse is running")
    runtime.serve_forever()
    return EXIT_OK


def cmd_epm_login(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse epm login SERVER``: the device sign-in; exit 1 when it fails."""
    from bot.epm.device import sign_in

    try:
        signed_in = sign_in(config, args.server, _show)
    except KeyboardInterrupt:
        print("sign-in cancelled; nothing stored", file=sys.stderr)
        return EXIT_FAILURE
    print(f"Signed in to EPM server {args.server}; refresh token stored in {signed_in.stored_in}")
    return EXIT_OK


def cmd_render(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse render``: the canvas markdown of the current board."""
    from bot.canvas.render import render_board

    with open_service(config) as service:
        board = service.board()
        close = service.close.canvas()
    title, timezone = service.layout.canvas_title, service.layout.canvas_timezone
    sys.stdout.write(render_board(board, title=title, timezone=timezone, close=close))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse demo``: sandboxes on loopback, the whole app, a scripted scenario."""
    # Imported here: only the demo needs the sandboxes (and their WebSocket server).
    from bot.demo import run_demo
    from bot.sandbox.slack import SandboxError

    setup_logging("INFO" if args.verbose else "WARNING", "text")
    try:
        run_demo(emit=print)
    except (TimeoutError, SandboxError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def cmd_close(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse close [PERIOD]``: the close summary, as ``/epmpulse close`` shows it."""
    from bot.close.plaintext import close_lines

    with open_service(config) as service:
        tracker = service.close
        meta = service.store.snapshot().meta
        lines = close_lines(tracker.calendar, tracker.summary(), meta, args.period)
    print("\n".join(lines))
    return EXIT_OK


def cmd_report(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse report [PERIOD] --out FILE.png``: the chart, and the summary Slack posts."""
    from bot.report.chart import render_chart
    from bot.report.model import build_report, report_timezone
    from bot.report.summary import summary_lines

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValidationError(f"--out {args.out}: the chart is a PNG; name a .png file")
    with open_service(config) as service:
        meta = service.store.snapshot().meta
        report = build_report(meta, args.period, report_timezone(config.estate.layout))
        png = render_chart(report, is_working_day=service.close.calendar.is_working_day)
    try:
        out.write_bytes(png)
    except OSError as exc:
        raise EpmPulseError(f"cannot write {out}: {exc.strerror}") from exc
    print("\n".join(summary_lines(report, mrkdwn=False)))
    print(f"chart ({len(png)} bytes) written to {out}")
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace, config: None) -> int:
    """``epmpulse sandbox``: the Slack and EPM sandboxes in the foreground until Ctrl-C."""
    from bot.sandbox.serve import run

    run(_show, slack_port=args.slack_port, epm_port=args.epm_port, env_file=args.env_file)
    return EXIT_OK


def _overdue(service: StatusService, board: dict[str, list[DomainRecord]]) -> set[tuple[str, str]]:
    """The overdue domains of ``board`` now (none without a close: section, SPEC §11)."""
    if service.layout.close is None:  # the close model loads only when there is one
        return set()
    shown = service.close.show([r for records in board.values() for r in records])
    return {(c.app, c.domain) for c in shown if c.overdue}


def _close_lines(service: StatusService, record: DomainRecord) -> list[str]:
    """The record's deadline and waits (SPEC §11); imported only for one domain."""
    from bot.close.plaintext import record_lines

    return record_lines(service.close.calendar, service.close.show_one(record))


def cmd_import(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse import DATA_DIR``: copy a JSON store into the database (idempotent)."""
    # Imported here: only this command needs the transfer code (and psycopg).
    from bot.database import safe_url
    from bot.slack import CURSOR_META
    from bot.store.postgres import PostgresStore
    from bot.store.transfer import import_json_store

    url = config.settings.database_url
    if url is None:
        print("error: EPMPULSE_DATABASE_URL is not set: nowhere to import into", file=sys.stderr)
        return EXIT_BAD_INPUT
    target = PostgresStore(url.get_secret_value())
    try:
        result = import_json_store(Path(args.data_dir), target, cursor=CURSOR_META)
    finally:
        target.close()
    print(f"{result.describe(Path(args.data_dir))} -> {safe_url(url.get_secret_value())}")
    return EXIT_OK


def _key(record: DomainRecord) -> tuple[str, str]:
    return record.app, record.domain


def _write_stream(chunks: Iterable[str]) -> None:
    """Write ``chunks`` to stdout as UTF-8 bytes, whatever the locale, CRLF kept as is."""
    sys.stdout.flush()
    binary = getattr(sys.stdout, "buffer", None)
    for chunk in chunks:
        if binary is not None:
            binary.write(chunk.encode("utf-8"))
        else:  # a text-only stdout (a redirect in tests or embedding code)
            sys.stdout.write(chunk)
    (binary or sys.stdout).flush()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _show(line: str) -> None:
    """Print one line of a long-running command's output at once (not when it ends)."""
    print(line, flush=True)
