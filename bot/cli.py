"""The ``epmpulse`` command line: parse arguments, load config, wire parts, print."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from bot import report
from bot.config import Config, load_config
from bot.errors import ConfigError, EpmPulseError, StoreError, ValidationError
from bot.logs import setup_logging
from bot.service import StatusService
from bot.store import JsonStore

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
    history.add_argument("-n", type=int, default=10, metavar="N", help="how many (default 10)")
    history.set_defaults(handler=cmd_history)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failure, 2 bad input)."""
    args = build_parser().parse_args(argv)
    try:
        config = load_config()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = config.settings
    secrets = [k.get_secret_value() for k in settings.api_keys.values()]
    setup_logging(settings.log_level, settings.log_format, secrets)
    handler: Callable[[argparse.Namespace, Config], int] = args.handler
    try:
        return handler(args, config)
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (StoreError, OSError) as exc:
        print(f"error: cannot use the data directory {settings.data_dir}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except EpmPulseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def open_service(config: Config) -> StatusService:
    """The status service over the JSON store in the configured data directory."""
    return StatusService(config.estate, JsonStore(config.settings.data_dir))


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
    """``epmpulse history APP DOMAIN [-n N]``."""
    service = open_service(config)
    print("\n".join(report.history_lines(service.history(args.app, args.domain, args.n))))
    return EXIT_OK


def _key(record: report.DomainRecord) -> tuple[str, str]:
    return record.app, record.domain
