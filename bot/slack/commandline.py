"""The ``/epmpulse`` command line: parsing, the sub-command table and dispatch.

Text is split like a shell (quotes allowed, curly quotes too), except that backslashes
are kept and an apostrophe as in ``Can't`` is a letter (see :func:`split_words`); the
first word names the sub-command, matched case-insensitively. A sub-command is one
function taking a :class:`CommandContext` and its arguments and returning the reply
messages, plus one :class:`SubCommand` entry saying its name, arguments and purpose.
Arity is checked from the ``args`` spec before the function runs, so functions only
see valid counts.

Expected failures (unknown names, bad usage, not allowed) become a short reply (bad
usage with the sub-command's usage line); anything else (a store failure, a bug)
propagates to the app's error boundary.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.errors import NotAllowedError, UnknownNameError, ValidationError
from bot.metrics import Metrics
from bot.service import StatusService
from bot.slack.blocks import Message, text_messages
from bot.slack.editors import Editors
from bot.slack.mrkdwn import escape, unescape
from bot.slack.subscriptions import Subscriptions

if TYPE_CHECKING:
    from bot.epm.launch import JobLauncher
    from bot.estate import Estate

logger = logging.getLogger(__name__)

COMMAND = "/epmpulse"
# Phones and macOS turn quotes curly; shlex only knows straight ones.
_CURLY_DOUBLE = {"\u201c": '"', "\u201d": '"', "\u201e": '"'}
_CURLY_SINGLE = {"\u2018": "'", "\u2019": "'"}
# How to split, in order: like a shell; with apostrophes as letters (Can't); at whitespace.
_SPLITTERS = (
    (str.maketrans(_CURLY_DOUBLE | _CURLY_SINGLE), "'\""),
    (str.maketrans(_CURLY_DOUBLE), '"'),
)


class UsageError(ValidationError):
    """A sub-command given missing, extra or malformed arguments."""


@dataclass(frozen=True)
class Command:
    """One parsed invocation: the sub-command name (lower case, "" when empty) and its words."""

    name: str
    args: tuple[str, ...]


def split_words(text: str) -> list[str]:
    """Split like a shell, but a backslash is an ordinary character (``C:\\data``).

    Text a shell could not split is split again with apostrophes as letters
    (``Can't``, double quotes still group words) and, failing that (an unclosed double
    quote), at whitespace with every character kept as typed.
    """
    for table, quotes in _SPLITTERS:
        lexer = shlex.shlex(text.translate(table), posix=True)
        lexer.whitespace_split = True
        lexer.commenters = ""  # "#42" is a word, not a comment
        lexer.escape = ""
        lexer.quotes = quotes
        try:
            return list(lexer)
        except ValueError:  # "No closing quotation"
            continue
    return text.split()


def parse_command(text: str) -> Command:
    """Unescape slash-command text and split it into a lower-case name and its words."""
    words = split_words(unescape(text))
    if not words:
        return Command("", ())
    return Command(words[0].lower(), tuple(words[1:]))


@dataclass(frozen=True)
class CommandContext:
    """What a sub-command may use: the caller and the services behind Slack."""

    user_id: str
    channel_id: str
    service: StatusService
    editors: Editors
    subscriptions: Subscriptions
    metrics: Metrics | None = None
    on_refresh: Callable[[], object] | None = None
    subcommands: Sequence[SubCommand] = ()
    launcher: JobLauncher | None = None  # starts EPM jobs (``run``); None: it cannot

    @property
    def estate(self) -> Estate | None:
        """The job specs, which come with the launcher (None: no job can start)."""
        return self.launcher.estate if self.launcher is not None else None

    @property
    def by(self) -> str:
        """The author recorded for changes made by this caller."""
        return f"slack:{self.user_id}"

    def require_editor(self) -> None:
        """Raise NotAllowedError unless the caller may change statuses."""
        self.editors.require(self.user_id)


Handler = Callable[[CommandContext, Sequence[str]], list[Message]]


@dataclass(frozen=True)
class SubCommand:
    """One ``/epmpulse`` sub-command.

    ``args`` is the usage after the name, e.g. ``"APP DOMAIN [N]"``: words before the
    first ``[`` are required, a ``…`` allows any number of further words.
    """

    name: str
    args: str
    summary: str
    run: Handler

    @property
    def usage(self) -> str:
        """The full usage line, e.g. ``/epmpulse history APP DOMAIN [N]``."""
        return f"{COMMAND} {self.name} {self.args}".rstrip()

    @property
    def required(self) -> list[str]:
        """The names of the required arguments."""
        required = []
        for word in self.args.split():
            if word.startswith("["):
                break
            required.append(word)
        return required

    @property
    def max_args(self) -> int | None:
        """The largest number of arguments accepted (None for no limit)."""
        return None if "…" in self.args else len(self.args.split())

    def check_arity(self, args: Sequence[str]) -> None:
        """Raise UsageError naming what is missing or which words are too many."""
        missing = self.required[len(args) :]
        if missing:
            raise UsageError(f"Missing {' and '.join(missing)}.")
        limit = self.max_args
        if limit is not None and len(args) > limit:
            extra = " ".join(args[limit:])
            raise UsageError(f"Too many arguments (unexpected: {escape(extra)}).")


class CommandLine:
    """Parses ``/epmpulse`` text and runs the matching sub-command; always returns a reply."""

    def __init__(self, subcommands: Sequence[SubCommand], help_name: str = "help") -> None:
        names = [s.name for s in subcommands]
        if len(set(names)) != len(names):
            raise ValueError(f"sub-command names must be unique: {names}")
        self.subcommands = tuple(subcommands)
        self._by_name = {s.name: s for s in subcommands}
        self._help = self._by_name[help_name]

    def handle(self, context: CommandContext, text: str) -> list[Message]:
        """The reply to ``text``: the sub-command's output or a short explanation of the problem."""
        command = parse_command(text)
        subcommand: SubCommand | None = None
        try:
            subcommand = self._find(command.name)
            subcommand.check_arity(command.args)
            return subcommand.run(context, command.args)
        except UsageError as exc:
            usage = f" Usage: `{subcommand.usage}`" if subcommand else ""
            return text_messages(f":warning: {exc}{usage}", f"See `{COMMAND} help`.")
        except ValidationError as exc:
            return text_messages(f":warning: {escape(str(exc))}")
        except NotAllowedError as exc:
            return text_messages(f":no_entry: {escape(str(exc))}")

    def _find(self, name: str) -> SubCommand:
        if not name:
            return self._help
        found = self._by_name.get(name)
        if found is None:
            raise UnknownNameError("command", name, list(self._by_name))
        return found
