"""The ``epmpulse`` command line: parse arguments, load config, wire parts, print."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from bot import report
from bot.app import build_runtime
from bot.canvas.render import render_board
from bot.checks import run_checks
from bot.config import Config, load_config
from bot.errors import ConfigError, EpmPulseError, StoreError, ValidationError
from bot.logs import setup_logging
from bot.service import StatusService
from bot.store.factory import open_store

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per SPEC §9 command."""
    parser = argparse.ArgumentParser(
        prog="epmpulse",
        description="Oracle EPM Cloud close status for Slack.",
        epilog="Configuration comes from the environment and EPMPULSE_CONFIG (see README).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    status = commands.add_parser("status", help="show the board, an app or a domain")
    status.add_argument("app", nargs="?", help="an app, e.g. Planning")
    status.add_argument("domain", nargs="?", help="a domain of that app, e.g. Actuals")
    status.set_defaults(handler=cmd_status)

    set_ = commands.add_parser("set", help="set a domain's status (local admin write)")
    set_.add_argument("app")
    set_.add_argument("domain")
    set_.add_argument("status", help="Pending, Loading, OK, Warning or Error")
    set_.add_argument("message", nargs="*", help="optional message (up to 200 characters)")
    set_.set_defaults(handler=cmd_set)

    history = commands.add_parser("history", help="show a domain's last changes")
    history.add_argument("app")
    history.add_argument("domain")
    history.add_argument("count", nargs="?", type=int, metavar="N", help="how many (default 10)")
    history.add_argument("-n", type=int, default=10, metavar="N", help="the same as N")
    history.set_defaults(handler=cmd_history)

    run = commands.add_parser("run", help="run socket mode, scheduler, REST API and poller")
    run.set_defaults(handler=cmd_run)

    check = commands.add_parser(
        "check", help="validate the configuration and reach Slack, the canvas and EPM"
    )
    check.set_defaults(handler=cmd_check)

    render = commands.add_parser("render", help="print the canvas markdown of the board")
    render.set_defaults(handler=cmd_render)

    import_ = commands.add_parser(
        "import", help="copy a JSON data directory into the database (EPMPULSE_DATABASE_URL)"
    )
    import_.add_argument("data_dir", metavar="DATA_DIR", help="the JSON store's data directory")
    import_.set_defaults(handler=cmd_import)

    demo = commands.add_parser("demo", help="run the whole app against the bundled sandboxes")
    demo.add_argument("-v", "--verbose", action="store_true", help="show the app's INFO logs")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failure, 2 bad input)."""
    args = build_parser().parse_args(argv)
    try:
        config = load_config(require_run=args.command == "run")
    except ConfigError as exc:
        if args.command == "check":
            print(f"FAIL config: {exc}")
            return EXIT_FAILURE
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = config.settings
    setup_logging(settings.log_level, settings.log_format, config.secret_values())
    handler: Callable[[argparse.Namespace, Config], int] = args.handler
    try:
        return handler(args, config)
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (StoreError, OSError) as exc:
        if settings.database_url is not None:  # the store is the database, not a directory
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        print(f"error: cannot use the data directory {settings.data_dir}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except EpmPulseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def open_service(config: Config) -> StatusService:
    """The status service over the configured store (the database, or the data directory)."""
    return StatusService(config.estate, open_store(config.settings))


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse status [APP [DOMAIN]]``."""
    service = open_service(config)
    if args.app is None:
        lines = report.board_lines(service.board())
    elif args.domain is None:
        app = config.estate.resolve_app(args.app)
        lines = report.board_lines({app: service.app_board(app)})
    else:
        record = service.get(args.app, args.domain)
        lines = [record.app, f"  {report.record_line(record)}", "Last changes:"]
        lines += [f"  {line}" for line in report.history_lines(service.history(*_key(record), 5))]
    print("\n".join(lines))
    return EXIT_OK


def cmd_set(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse set APP DOMAIN STATUS [MESSAGE…]``."""
    service = open_service(config)
    change = service.set(args.app, args.domain, args.status, " ".join(args.message), by="system")
    print(f"{change.new.app} {change.new.domain}: {change.old.status} -> {change.new.status}")
    return EXIT_OK


def cmd_history(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse history APP DOMAIN [N]`` (or ``-n N``)."""
    service = open_service(config)
    count = args.n if args.count is None else args.count
    print("\n".join(report.history_lines(service.history(args.app, args.domain, count))))
    return EXIT_OK


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse check``: one line per check; exit 1 when any check fails."""
    checks = run_checks(config)
    for name, check in checks.items():
        print(f"{'ok  ' if check.ok else 'FAIL'} {name}: {check.detail}")
    return EXIT_OK if all(check.ok for check in checks.values()) else EXIT_FAILURE


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse run``: every part in one process until SIGTERM/SIGINT."""
    runtime = build_runtime(config)
    try:
        runtime.start()
    except BaseException:
        runtime.store.close()
        raise
    logger.info("epmpulse is running")
    runtime.serve_forever()
    return EXIT_OK


def cmd_render(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse render``: the canvas markdown of the current board."""
    canvas = config.estate.canvas
    board = open_service(config).board()
    sys.stdout.write(render_board(board, title=canvas.title, timezone=canvas.timezone))
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


def cmd_import(args: argparse.Namespace, config: Config) -> int:
    """``epmpulse import DATA_DIR``: copy a JSON store into the database (idempotent)."""
    from pathlib import Path

    # Imported here: only this command needs the transfer code (and psycopg).
    from bot.store.postgres import PostgresStore, safe_url
    from bot.store.transfer import import_json_store

    url = config.settings.database_url
    if url is None:
        print("error: EPMPULSE_DATABASE_URL is not set: nowhere to import into", file=sys.stderr)
        return EXIT_BAD_INPUT
    target = PostgresStore(url.get_secret_value())
    try:
        result = import_json_store(Path(args.data_dir), target)
    finally:
        target.close()
    print(f"{result.describe(Path(args.data_dir))} -> {safe_url(url.get_secret_value())}")
    return EXIT_OK


def _key(record: report.DomainRecord) -> tuple[str, str]:
    return record.app, record.domain
