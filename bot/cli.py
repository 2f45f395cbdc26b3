"""The ``epmpulse`` command line: parse arguments, load config, wire parts, print.

One-shot commands (``status``, ``set``, ``history``, ``render``, ``export``) are run
by scripts in loops, so start-up time is their cost: they read the configuration
through :mod:`bot.oneshot` (validated once, then kept) and import no pydantic, and
every heavier part (Bolt, slack_sdk, FastAPI, uvicorn, the EPM client, the sandboxes)
is imported inside the command that needs it. ``tests/core/test_cli_imports.py``
keeps it that way.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import __version__, oneshot
from bot.errors import ConfigError, EpmPulseError, StoreError, ValidationError
from bot.logs import setup_logging
from bot.oneshot import OneShotConfig

if TYPE_CHECKING:
    from bot.config import Config
    from bot.model import DomainRecord
    from bot.service import StatusService

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
ONE_SHOT = frozenset({"status", "set", "history", "render", "export", "import"})
# One-shot commands that need only the board's layout: they run on OneShotConfig.
LAYOUT_ONLY = ONE_SHOT - {"import"}
# Commands that read no configuration at all.
UNCONFIGURED = frozenset({"sandbox"})

_COMMON_SETTINGS = """\
  EPMPULSE_CONFIG          the estate YAML (default ./epmpulse.yml, else built-in)
  EPMPULSE_DATA_DIR        state, history, backups and EPM tokens (default ./data)
  EPMPULSE_LOG_LEVEL       DEBUG, INFO, WARNING, ERROR, CRITICAL (default INFO)
  EPMPULSE_LOG_FORMAT      json or text (default json)"""
_SLACK_SETTINGS = """\
  SLACK_BOT_TOKEN          bot token xoxb-...
  SLACK_APP_TOKEN          app-level token xapp-... (socket mode)
  SLACK_API_URL            Slack Web API base URL (default https://slack.com/api/)
  SLACK_CANVAS_ID          the canvas to maintain (F...)
  SLACK_CHANNEL_ID         channel of the channel canvas and of alerts (C...)
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY  proxy for EPM and Slack (lower-case forms too)"""
RUN_SETTINGS = f"""\
settings read (environment):
{_SLACK_SETTINGS}
  EPMPULSE_API_KEYS        name:key,... for the REST API (none: keyed routes answer 401)
  EPMPULSE_EDITORS         Slack user/usergroup ids allowed to change statuses
  EPMPULSE_HTTP_HOST       REST API bind address (default 127.0.0.1)
  EPMPULSE_HTTP_PORT       REST API port (PORT when unset; default 8080)
  EPMPULSE_RATE_LIMITS     REST limits per key, e.g. status=120/minute,read=300/minute
  EPMPULSE_RATE_LIMIT_STORAGE  a limits storage URI (default memory://)
  EPMPULSE_DATABASE_URL    PostgreSQL URI: store everything there (several instances)
  EPMPULSE_LEADER_TIMEOUT_SECONDS  take-over time from a dead leader (default 10)
  EPMPULSE_CANVAS_DEBOUNCE_SECONDS canvas flush period (default 3)
  EPMPULSE_POLL_INTERVAL_SECONDS   EPM poll period (default: YAML, else 30)
{_COMMON_SETTINGS}
EPM credentials come from the YAML file (${{VAR}} is replaced from the environment)."""
CHECK_SETTINGS = f"""\
settings read (environment):
{_SLACK_SETTINGS}
  EPMPULSE_DATABASE_URL    PostgreSQL URI, when the store lives there
{_COMMON_SETTINGS}
Every EPM server of the YAML file is reached with its configured credentials."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per SPEC §9 command."""
    parser = argparse.ArgumentParser(
        prog="epmpulse",
        description="Oracle EPM Cloud close status for Slack.",
        epilog="Configuration comes from the environment and EPMPULSE_CONFIG "
        "(see docs/reference.md). Every command has --help.",
    )
    parser.add_argument("--version", action="version", version=f"epmpulse {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    status = commands.add_parser("status", help="show the board, an app or a domain")
    status.add_argument("app", nargs="?", help="an app, e.g. Planning")
    status.add_argument("domain", nargs="?", help="a domain of that app, e.g. Actuals")
    status.set_defaults(handler=cmd_status)

    set_ = commands.add_parser("set", help="set a domain's status (local admin write)")
    set_.add_argument("app")
    set_.add_argument("domain")
    set_.add_argument("status", help="Pending, Loading, OK, Warning or Error")
    # A default makes argparse treat the (optional) message as optional in its errors.
    set_.add_argument(
        "message", nargs="*", default=[], help="optional message (up to 200 characters)"
    )
    set_.set_defaults(handler=cmd_set)

    history = commands.add_parser("history", help="show a domain's last changes")
    history.add_argument("app")
    history.add_argument("domain")
    history.add_argument("count", nargs="?", type=int, metavar="N", help="how many (default 10)")
    history.add_argument("-n", type=int, default=None, metavar="N", help="the same as N")
    history.set_defaults(handler=cmd_history)

    export = commands.add_parser(
        "export",
        help="write every change, in order, as CSV or JSON lines (audit trail)",
        description="Write every change in order to stdout, streaming.",
        epilog="Instants are ISO 8601 (2026-11-01, 2026-11-01T09:00:00Z); without an "
        "offset they are UTC.",
    )
    export.add_argument("--since", metavar="ISO", help="only changes at or after this instant")
    export.add_argument("--until", metavar="ISO", help="only changes before this instant")
    export.add_argument(
        "--format", default="csv", choices=("csv", "jsonl"), help="csv (default) or jsonl"
    )
    export.set_defaults(handler=cmd_export)

    formatter = argparse.RawDescriptionHelpFormatter
    run = commands.add_parser(
        "run",
        help="run socket mode, scheduler, REST API and poller",
        description="Run socket mode, the scheduler, the REST API and the EPM poller.",
        epilog=RUN_SETTINGS,
        formatter_class=formatter,
    )
    run.set_defaults(handler=cmd_run)

    check = commands.add_parser(
        "check",
        help="validate the configuration and reach Slack, the canvas and EPM",
        description="Validate the configuration as run does and reach Slack, the canvas "
        "and every EPM server; one line per check. Exit 2 for a configuration problem "
        "(every one listed), 1 when a service fails. Creates nothing.",
        epilog=CHECK_SETTINGS,
        formatter_class=formatter,
    )
    check.add_argument(
        "-v", "--verbose", action="store_true", help="also show the libraries' log lines"
    )
    check.set_defaults(handler=cmd_check)

    close = commands.add_parser(
        "close",
        help="the close summary: n of m OK, overdue, waiting, next deadlines",
        description="Print the close summary as /epmpulse close shows it in Slack: the "
        "close running now, or an archived close.",
    )
    close.add_argument("period", nargs="?", metavar="PERIOD", help="e.g. 2026-10 (archived)")
    close.set_defaults(handler=cmd_close)

    report = commands.add_parser(
        "report",
        help="write the close report chart (PNG) and print its summary",
        description="Write the close report chart of an archived close to a PNG file and "
        "print the summary /epmpulse report posts with it.",
    )
    report.add_argument(
        "period", nargs="?", metavar="PERIOD", help="an archived close (default: the last)"
    )
    report.add_argument("--out", required=True, metavar="FILE.png", help="where to write it")
    report.set_defaults(handler=cmd_report)

    sandbox = commands.add_parser(
        "sandbox",
        help="serve the bundled Slack and EPM sandboxes for check and run in another shell",
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
    sandbox.set_defaults(handler=cmd_sandbox)

    render = commands.add_parser("render", help="print the canvas markdown of the board")
    render.set_defaults(handler=cmd_render)

    import_ = commands.add_parser(
        "import",
        help="copy a JSON data directory into the database (EPMPULSE_DATABASE_URL)",
        description="Copy a JSON data directory (board, history, bookkeeping, rotated EPM "
        "refresh tokens) into the database named by EPMPULSE_DATABASE_URL, in one "
        "transaction. Importing the same data again changes nothing.",
    )
    import_.add_argument("data_dir", metavar="DATA_DIR", help="the JSON store's data directory")
    import_.set_defaults(handler=cmd_import)

    epm = commands.add_parser(
        "epm",
        help="EPM sign-in: `epm login SERVER` for oauth_device servers",
        description="EPM commands.",
    )
    epm_commands = epm.add_subparsers(dest="epm_command", metavar="COMMAND", required=True)
    login = epm_commands.add_parser(
        "login",
        help="sign in to an oauth_device EPM server (OAuth 2 device flow)",
        description="Sign in to an EPM server whose auth is oauth_device: print the "
        "verification URL and code, wait for the sign-in, and store the first refresh "
        "token where the server's rotated tokens live (EPMPULSE_DATA_DIR/tokens, or the "
        "database with EPMPULSE_DATABASE_URL).",
    )
    login.add_argument("server", metavar="SERVER", help="a server name under epm.servers")
    login.set_defaults(handler=cmd_epm_login)

    demo = commands.add_parser("demo", help="run the whole app against the bundled sandboxes")
    demo.add_argument("-v", "--verbose", action="store_true", help="show the app's INFO logs")
    demo.set_defaults(handler=cmd_demo)
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
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ConfigError as exc:  # found at start-up, e.g. a canvas id Slack does not know
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    except (StoreError, OSError) as exc:
        data_dir = _data_dir(config)
        if data_dir is None:  # the store is the database, not a directory
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        print(f"error: cannot use the data directory {data_dir}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except EpmPulseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _configure(command: str) -> Config | OneShotConfig | None:
    """The configuration ``command`` runs on, with logging set up (ConfigError: invalid).

    Layout-only commands read :mod:`bot.oneshot`'s kept validation when nothing changed
    since; ``sandbox`` reads none; every other command validates everything with pydantic.
    ``check`` requires what ``run`` requires, so it lists the same problems.
    """
    if command in UNCONFIGURED:
        return None
    if command in LAYOUT_ONLY:
        quick = oneshot.load()
        # One-shot commands log only warnings and errors, unless EPMPULSE_LOG_LEVEL says.
        setup_logging(quick.log_level or "WARNING", quick.log_format, quick.secrets)
        return quick
    from bot.config import load_config

    config = load_config(require_run=command in ("run", "check"))
    if command not in ("demo", "check"):  # these set up their own logging
        setup_logging(
            _log_level(command, config), config.settings.log_format, config.secret_values()
        )
    return config


def _data_dir(config: Config | OneShotConfig | None) -> Path | None:
    """The JSON store's data directory (None when the store is the database)."""
    if config is None:
        return None
    if isinstance(config, OneShotConfig):
        return None if config.database_url is not None else config.data_dir
    settings = config.settings
    return None if settings.database_url is not None else settings.data_dir


def _log_level(command: str, config: Config) -> str:
    """One-shot commands log only warnings and errors, unless EPMPULSE_LOG_LEVEL says."""
    settings = config.settings
    if command in ONE_SHOT and "log_level" not in settings.model_fields_set:
        return "WARNING"
    return settings.log_level


@contextmanager
def open_service(config: OneShotConfig) -> Iterator[StatusService]:
    """The status service over the configured store (the database, or the data directory)."""
    from bot.service import StatusService
    from bot.store.factory import open_store_at

    store = open_store_at(config.data_dir, config.database_url)
    try:
        yield StatusService(config.layout, store)
    finally:
        store.close()


def cmd_status(args: argparse.Namespace, config: OneShotConfig) -> int:
    """``epmpulse status [APP [DOMAIN]]``."""
    from bot import plaintext

    with open_service(config) as service:
        if args.app is None:
            board = service.board()
            lines = plaintext.board_lines(board, _overdue(service, config, board))
        elif args.domain is None:
            app = config.layout.resolve_app(args.app)
            board = {app: service.app_board(app)}
            lines = plaintext.board_lines(board, _overdue(service, config, board))
        else:
            record = service.get(args.app, args.domain)
            lines = [record.app, f"  {plaintext.record_line(record)}"]
            lines += [f"  {line}" for line in _close_lines(service, record)]
            lines.append("Last changes:")
            recent = service.history(*_key(record), 5)
            lines += [f"  {line}" for line in plaintext.history_lines(recent)]
    print("\n".join(lines))
    return EXIT_OK


def cmd_set(args: argparse.Namespace, config: OneShotConfig) -> int:
    """``epmpulse set APP DOMAIN STATUS [MESSAGE…]``."""
    with open_service(config) as service:
        message = " ".join(args.message)
        change = service.set(args.app, args.domain, args.status, message, by="system")
        # The close model loads only with a close: section (start-up time, SPEC §12).
        closing = config.layout.close is not None
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


def cmd_history(args: argparse.Namespace, config: OneShotConfig) -> int:
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


def cmd_export(args: argparse.Namespace, config: OneShotConfig) -> int:
    """``epmpulse export [--since ISO] [--until ISO] [--format csv|jsonl]``: streams stdout."""
    from bot import export
    from bot.store.factory import open_store_at

    since = export.parse_instant(args.since, "--since") if args.since else None
    until = export.parse_instant(args.until, "--until") if args.until else None
    export.check_window(since, until)
    fmt = export.parse_format(args.format)
    store = open_store_at(config.data_dir, config.database_url)
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
    from bot.app import build_runtime

    url = config.settings.database_url
    if url is not None:
        from bot.store.pooler import check_stable_session

        check_stable_session(url.get_secret_value())
    runtime = build_runtime(config)
    try:
        runtime.start()
    except BaseException:
        runtime.store.close()
        raise
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


def cmd_render(args: argparse.Namespace, config: OneShotConfig) -> int:
    """``epmpulse render``: the canvas markdown of the current board."""
    from bot.canvas.render import render_board

    layout = config.layout
    with open_service(config) as service:
        board = service.board()
        close = service.close.canvas()
    title, timezone = layout.canvas_title, layout.canvas_timezone
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

    with open_full_service(config) as service:
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
    with open_full_service(config) as service:
        meta = service.store.snapshot().meta
        report = build_report(meta, args.period, report_timezone(service.layout))
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


@contextmanager
def open_full_service(config: Config) -> Iterator[StatusService]:
    """The status service over the configured store, with the whole validated estate."""
    from bot.service import StatusService
    from bot.store.factory import open_store

    store = open_store(config.settings)
    try:
        yield StatusService(config.estate.layout, store)
    finally:
        store.close()


def _overdue(
    service: StatusService, config: OneShotConfig, board: dict[str, list[DomainRecord]]
) -> set[tuple[str, str]]:
    """The overdue domains of ``board`` now (none without a close: section, SPEC §11)."""
    if config.layout.close is None:  # the close model loads only when there is one
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
    from bot.slack.delivery import CURSOR_META
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
