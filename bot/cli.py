"""The ``epmpulse`` command line: parse arguments, load the configuration, run a command.

The handlers are in :mod:`bot.commands`. One-shot commands (``status``, ``set``,
``history``, ``export``, ``render``, ``close``, ``report``) validate only what they read:
the YAML file and the data-directory, database and log settings (SPEC §19); ``run`` and
``check`` validate every setting and list every problem at once.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import __version__, commands
from bot.commands import EXIT_BAD_INPUT, EXIT_FAILURE
from bot.errors import ConfigError, EpmPulseError, StoreError, ValidationError
from bot.logs import setup_logging

if TYPE_CHECKING:
    from bot.config import Config

# Commands that read only the one-shot settings (bot.settings.ONE_SHOT_FIELDS).
ONE_SHOT = frozenset({"status", "set", "history", "render", "export", "close", "report"})
# Commands that read no configuration at all.
UNCONFIGURED = frozenset({"sandbox"})
# The epilog that stands for the list of settings, rendered from bot.settings on --help.
SETTINGS_EPILOG = "(settings)"


class _SettingsHelp(argparse.RawDescriptionHelpFormatter):
    """Shows the settings' list, derived from bot.settings, only when help is printed."""

    def add_text(self, text: str | None) -> None:
        if text == SETTINGS_EPILOG:
            from bot.settings import settings_help  # pydantic: only for --help

            text = settings_help()
        super().add_text(text)


def _command(
    sub: Any, name: str, handler: Callable[..., int], help: str, **more: str
) -> argparse.ArgumentParser:
    """A sub-command running ``handler``; ``more``: its description and epilog."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, formatter_class=_SettingsHelp, **more
    )
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per SPEC §9 command."""
    parser = argparse.ArgumentParser(
        prog="epmpulse",
        description="Oracle EPM Cloud close status for Slack.",
        epilog="Configuration comes from the environment and EPMPULSE_CONFIG "
        "(see docs/settings.md). Every command has --help.",
    )
    parser.add_argument("--version", action="version", version=f"epmpulse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    status = _command(sub, "status", commands.cmd_status, "show the board, an app or a domain")
    status.add_argument("app", nargs="?", help="an app, e.g. Planning")
    status.add_argument("domain", nargs="?", help="a domain of that app, e.g. Actuals")

    set_ = _command(sub, "set", commands.cmd_set, "set a domain's status (local admin write)")
    set_.add_argument("app")
    set_.add_argument("domain")
    set_.add_argument("status", help="Pending, Loading, OK, Warning or Error")
    # A default makes argparse treat the (optional) message as optional in its errors.
    set_.add_argument(
        "message", nargs="*", default=[], help="optional message (up to 200 characters)"
    )

    history = _command(sub, "history", commands.cmd_history, "show a domain's last changes")
    history.add_argument("app")
    history.add_argument("domain")
    history.add_argument("count", nargs="?", type=int, metavar="N", help="how many (default 10)")
    history.add_argument("-n", type=int, default=None, metavar="N", help="the same as N")

    export = _command(
        sub,
        "export",
        commands.cmd_export,
        "write every change, in order, as CSV or JSON lines (audit trail)",
        description="Write every change in order to stdout, streaming.",
        epilog="Instants are ISO 8601 (2026-11-01, 2026-11-01T09:00:00Z); without an "
        "offset they are UTC.",
    )
    export.add_argument("--since", metavar="ISO", help="only changes at or after this instant")
    export.add_argument("--until", metavar="ISO", help="only changes before this instant")
    export.add_argument(
        "--format", default="csv", choices=("csv", "jsonl"), help="csv (default) or jsonl"
    )

    _command(
        sub,
        "run",
        commands.cmd_run,
        "run socket mode, scheduler, REST API and poller",
        description="Run socket mode, the scheduler, the REST API and the EPM poller. "
        "EPM credentials come from the YAML file (${VAR} is replaced from the environment).",
        epilog=SETTINGS_EPILOG,
    )
    check = _command(
        sub,
        "check",
        commands.cmd_check,
        "validate the configuration and reach Slack, the canvas and EPM",
        description="Validate the configuration as run does and reach Slack, the canvas "
        "and every EPM server; one line per check. Exit 2 for a configuration problem "
        "(every one listed), 1 when a service fails. Creates nothing.",
        epilog=SETTINGS_EPILOG,
    )
    check.add_argument(
        "-v", "--verbose", action="store_true", help="also show the libraries' log lines"
    )

    close = _command(
        sub,
        "close",
        commands.cmd_close,
        "the close summary: n of m OK, overdue, waiting, next deadlines",
        description="Print the close summary as /epmpulse close shows it in Slack: the "
        "close running now, or an archived close.",
    )
    close.add_argument("period", nargs="?", metavar="PERIOD", help="e.g. 2026-10 (archived)")

    report = _command(
        sub,
        "report",
        commands.cmd_report,
        "write the close report chart (PNG) and print its summary",
        description="Write the close report chart of an archived close to a PNG file and "
        "print the summary /epmpulse report posts with it.",
    )
    report.add_argument(
        "period", nargs="?", metavar="PERIOD", help="an archived close (default: the last)"
    )
    report.add_argument("--out", required=True, metavar="FILE.png", help="where to write it")

    sandbox = _command(
        sub,
        "sandbox",
        commands.cmd_sandbox,
        "serve the bundled Slack and EPM sandboxes for check and run in another shell",
        description="Start the bundled Slack and EPM sandboxes on 127.0.0.1 and print the "
        "environment lines epmpulse check and epmpulse run need. Ctrl-C stops them.",
    )
    sandbox.add_argument("--slack-port", type=int, default=0, help="default: any free port")
    sandbox.add_argument("--epm-port", type=int, default=0, help="default: any free port")
    sandbox.add_argument(
        "--env-file",
        type=Path,
        help="also write the export lines to this file, for another container (compose.yaml)",
    )

    _command(sub, "render", commands.cmd_render, "print the canvas markdown of the board")

    import_ = _command(
        sub,
        "import",
        commands.cmd_import,
        "copy a JSON data directory into the database (EPMPULSE_DATABASE_URL)",
        description="Copy a JSON data directory (board, history, bookkeeping, rotated EPM "
        "refresh tokens) into the database named by EPMPULSE_DATABASE_URL, in one "
        "transaction. Importing the same data again changes nothing.",
    )
    import_.add_argument("data_dir", metavar="DATA_DIR", help="the JSON store's data directory")

    epm = sub.add_parser(
        "epm",
        help="EPM sign-in: `epm login SERVER` for oauth_device servers",
        description="EPM commands.",
    )
    epm_sub = epm.add_subparsers(dest="epm_command", metavar="COMMAND", required=True)
    login = _command(
        epm_sub,
        "login",
        commands.cmd_epm_login,
        "sign in to an oauth_device EPM server (OAuth 2 device flow)",
        description="Sign in to an EPM server whose auth is oauth_device: print the "
        "verification URL and code, wait for the sign-in, and store the first refresh "
        "token where the server's rotated tokens live (EPMPULSE_DATA_DIR/tokens, or the "
        "database with EPMPULSE_DATABASE_URL).",
    )
    login.add_argument("server", metavar="SERVER", help="a server name under epm.servers")

    demo = _command(
        sub, "demo", commands.cmd_demo, "run the whole app against the bundled sandboxes"
    )
    demo.add_argument("-v", "--verbose", action="store_true", help="show the app's INFO logs")
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; ``history APP DOMAIN -n 2 4`` gets the clear "give N once" error."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if (
        args.command == "history"
        and args.count is None
        and len(extra) == 1
        and extra[0].lstrip("-").isdigit()
    ):
        args.count, extra = int(extra[0]), []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def console() -> int:
    """The ``epmpulse`` console script (and ``python -m bot``): :func:`main`, then exit."""
    code = main()
    # The process ends next. Its last garbage collection would walk every object the
    # command created, all still referenced, to free nothing: about a tenth of a
    # one-shot `set` (bench/cli.py). Frozen objects are left out of that walk.
    gc.freeze()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failure, 2 bad input)."""
    args = parse_args(argv)
    try:
        config = _configure(args.command)
    except ConfigError as exc:
        if args.command == "check":  # its result lines, every problem on one
            print(f"FAIL config: {len(exc.problems)} problem(s)")
            print("\n".join(f"  - {problem}" for problem in exc.problems))
            return EXIT_BAD_INPUT
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    handler: Callable[[argparse.Namespace, Any], int] = args.handler
    try:
        return handler(args, config)
    except (ValidationError, ConfigError) as exc:  # ConfigError: e.g. an unknown canvas id
        print(f"error: {exc}" if isinstance(exc, ValidationError) else exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    except (StoreError, OSError) as exc:
        data_dir = _data_dir(config)
        where = "" if data_dir is None else f"cannot use the data directory {data_dir}: "
        print(f"error: {where}{exc}", file=sys.stderr)
        return EXIT_FAILURE
    except EpmPulseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _configure(command: str) -> Config | None:
    """The configuration ``command`` runs on, with logging set up (ConfigError: invalid).

    One-shot commands read only their settings; ``sandbox`` reads none; ``check``
    requires what ``run`` requires, so it lists the same problems.
    """
    if command in UNCONFIGURED:
        return None
    from bot.config import load_config
    from bot.settings import ONE_SHOT_FIELDS

    one_shot = command in ONE_SHOT
    if one_shot:
        # pydantic looks for plugins (observability hooks EPMPulse has none of) by reading
        # every installed distribution's entry points: about a quarter of a one-shot
        # command's time (bench/cli.py). PYDANTIC_DISABLE_PLUGINS is pydantic's own switch.
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    config = load_config(
        require_run=command in ("run", "check"), fields=ONE_SHOT_FIELDS if one_shot else None
    )
    if command not in ("demo", "check"):  # these set up their own logging
        settings = config.settings
        # One-shot commands log only warnings and errors, unless EPMPULSE_LOG_LEVEL says.
        quiet = (one_shot or command == "import") and "log_level" not in settings.model_fields_set
        level = "WARNING" if quiet else settings.log_level
        setup_logging(level, settings.log_format, config.secret_values())
    return config


def _data_dir(config: Config | None) -> Path | None:
    """The JSON store's data directory (None when the store is the database)."""
    if config is None or config.settings.database_url is not None:
        return None
    return config.settings.data_dir
