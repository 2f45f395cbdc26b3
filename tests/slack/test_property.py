"""Property tests: any text given to ``/epmpulse`` gets a valid reply and never an exception."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient

from bot.config import load_config
from bot.service import StatusService
from bot.slack.blocks import Message
from bot.slack.commandline import CommandContext, CommandLine, parse_command
from bot.slack.editors import Editors
from bot.slack.subcommands import SUBCOMMANDS
from bot.slack.subscriptions import Subscriptions
from bot.store import JsonStore
from tests.slack.conftest import Running

WORDS = st.sampled_from(
    [
        "status",
        "STATUS",
        "history",
        "subscribe",
        "unsubscribe",
        "refresh",
        "help",
        "track",
        "planning",
        "FCCS",
        "arcs",
        "Actuals",
        "forecast",
        "Consolidation",
        "reconciliation",
        "ok",
        "Error",
        "warning",
        "LOADING",
        "pending",
        "okay",
        "0",
        "10",
        "-3",
        "101",
        "1e3",
        '"',
        "'",
        "\\",
        "“",
        "”",
        "&lt;",
        "&amp;",
        "<!channel>",
        "*bold*",
        "`code`",
        "",
        "x" * 250,
        "\n",
        "\t",
        "\x00",
        "é",
        "🔥",
    ]
)
COMMAND_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(WORDS, st.text(max_size=20)), max_size=8).map(" ".join),
)


@pytest.fixture(scope="module")
def command_line(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[CommandLine, CommandContext]]:
    """A command line over a real service in a temp data dir; everyone is an editor."""
    data = Path(tmp_path_factory.mktemp("property"))
    config = load_config({"EPMPULSE_DATA_DIR": str(data)}, cwd=data)
    store = JsonStore(config.settings.data_dir)
    service = StatusService(config.estate.layout, store)
    # No editors configured, so the client is never called; it points nowhere on purpose.
    client = WebClient(base_url="http://127.0.0.1:9/api/", timeout=1)
    commands = CommandLine(SUBCOMMANDS)
    context = CommandContext(
        user_id="U0PROP",
        channel_id="C0PROP",
        service=service,
        editors=Editors((), client),
        subscriptions=Subscriptions(service),
        subcommands=commands.subcommands,
    )
    yield commands, context
    store.close()


def assert_valid(messages: list[Message]) -> None:
    """Between one and five messages, each within Slack's message limits."""
    assert 1 <= len(messages) <= 5
    for message in messages:
        assert message.text.strip()
        assert 1 <= len(message.blocks) <= 50
        for block in message.blocks:
            data = block.to_dict()  # slack_sdk validates its own limits here
            if data["type"] == "section":
                assert len(data["text"]["text"]) <= 3000
            if data["type"] == "header":
                assert len(data["text"]["text"]) <= 150


@settings(max_examples=300, deadline=None)
@given(text=COMMAND_TEXT)
@example(text='"" status')
@example(text="status planning actuals ok " + "x" * 3000)
@example(text='status "" ""')
@example(text="history planning actuals 99999999999999999999")
def test_any_text_gets_a_valid_reply(
    command_line: tuple[CommandLine, CommandContext], text: str
) -> None:
    """Whatever is typed, the handler returns valid messages instead of raising."""
    commands, context = command_line
    assert_valid(commands.handle(context, text))


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
@example(text="status planning actuals error Can't load")
@example(text='"unclosed')
def test_parsing_always_gives_a_name_and_words(text: str) -> None:
    """The parser turns any text into a lower-case name and words; it never raises."""
    command = parse_command(text)
    assert command.name == command.name.lower()
    assert all(isinstance(word, str) for word in command.args)
    assert command.name or not command.args


# Words without quotes, whitespace or "&" (Slack's escapes), backslashes and "#" allowed.
PLAIN_WORD = st.text(
    st.characters(
        exclude_categories=("Z", "Cc"), exclude_characters="'\"\u201c\u201d\u201e\u2018\u2019&"
    ),
    min_size=1,
).filter(lambda w: len(w.split()) == 1)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(PLAIN_WORD, min_size=1, max_size=8))
@example(words=["status", "C:\\data\\", "#42"])
def test_text_without_quotes_splits_into_the_typed_words(words: list[str]) -> None:
    """Without quotes every word, backslashes and ``#`` included, arrives exactly as typed."""
    command = parse_command(" ".join(words))
    assert [command.name, *command.args] == [words[0].lower(), *words[1:]]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=COMMAND_TEXT)
def test_any_text_through_slack_gets_an_accepted_reply(running: Running, text: str) -> None:
    """End to end, every command is acked fast and answered with a reply Slack accepts."""
    bodies = running.command(text)
    assert bodies and bodies[0].get("blocks")
