"""The renderer turns the board into canvas markdown that no message can break."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.canvas.render import (
    MAX_DOCUMENT_BYTES,
    MAX_TABLE_CELLS,
    SHORT_MESSAGE_CHARS,
    digest,
    escape,
    render_board,
)
from bot.model import DomainRecord, Status

GOLDEN = Path(__file__).parent / "golden"
AT = datetime(2024, 5, 1, 7, 30, 12, tzinfo=UTC)
HOSTILE = [
    "a | b || c \\| d",
    "line one\nline two\r\nline three\rfour\u2028five\u2029six\x0bseven\x0ceight\x85nine",
    "# not a heading",
    "**bold** _it_ ~~gone~~ `code` ```fence```",
    "![](@U0MALLORY) ping [click](https://evil.example) <https://x.example|y> <!channel>",
    "&#124; &amp; &lt;b&gt; <b>html</b>",
    "trailing backslash \\",
    "| --- | --- |",
    "tabs\tand   spaces",
    "nul\x00 and bell\x07 and esc\x1b[31m",
    "x" * 200,
    "|" * 200,
]


def record(
    app: str,
    domain: str,
    status: Status = Status.OK,
    message: str = "",
    by: str = "slack:U0ALICE",
    at: datetime | None = AT,
) -> DomainRecord:
    """A domain record as the service would return it."""
    return DomainRecord(
        app=app, domain=domain, status=status, message=message, updated_at=at, updated_by=by
    )


def live(text: str) -> list[tuple[int, str]]:
    """The characters of ``text`` not escaped by a backslash, with their positions."""
    found, index = [], 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        found.append((index, text[index]))
        index += 1
    return found


def split_cells(row: str) -> list[str]:
    """Split a table row at unescaped pipes the way GFM does (outer pipes dropped)."""
    assert row.startswith("| ") and row.endswith(" |"), row
    inner = row[1:-1]
    cuts = [i for i, char in live(inner) if char == "|"]
    bounds = zip([-1, *cuts], [*cuts, len(inner)], strict=True)
    return [inner[start + 1 : end].strip() for start, end in bounds]


def unescape(text: str) -> str:
    """Undo backslash escapes of ASCII punctuation (what a CommonMark reader shows)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def tables(markdown: str) -> list[list[str]]:
    """Every table of a document as its list of lines (header and rule included)."""
    found: list[list[str]] = []
    current: list[str] = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def test_it_renders_a_title_an_h2_per_app_and_one_table_each() -> None:
    """The document is an h1 title, then per app an h2 and the five-column table."""
    board = {
        "Planning": [
            record("Planning", "Actuals", Status.OK, "Loaded 1.2M rows", "slack:U0ALICE"),
            record("Planning", "Forecast", Status.LOADING, "", "epm:planning"),
            DomainRecord(app="Planning", domain="Budget"),
        ],
        "FCCS": [record("FCCS", "Consolidation", Status.ERROR, "Rule failed", "api:ci")],
    }
    assert render_board(board, title="EPM Status", timezone="Europe/Paris") == (
        "# EPM Status\n"
        "\n"
        "## Planning\n"
        "\n"
        "| Domain | Status | Message | Updated | By |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| Actuals | :large_green_circle: OK | Loaded 1.2M rows | 2024-05-01 09:30 CEST"
        " | ![](@U0ALICE) |\n"
        "| Forecast | :large_blue_circle: Loading |  | 2024-05-01 09:30 CEST | epm:planning |\n"
        "| Budget | :white_circle: Pending |  | — |  |\n"
        "\n"
        "## FCCS\n"
        "\n"
        "| Domain | Status | Message | Updated | By |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| Consolidation | :red_circle: Error | Rule failed | 2024-05-01 09:30 CEST | api:ci |\n"
    )


@pytest.mark.parametrize("status", list(Status))
def test_the_status_cell_holds_the_emoji_and_the_canonical_word(status: Status) -> None:
    """Every status shows as its emoji followed by its canonical spelling."""
    markdown = render_board({"A": [record("A", "D", status)]}, title="T")
    assert split_cells(tables(markdown)[0][2])[1] == f"{status.emoji} {status.value}"


@pytest.mark.parametrize(
    ("timezone", "shown"),
    [
        ("UTC", "2024-05-01 07:30 UTC"),
        ("America/New_York", "2024-05-01 03:30 EDT"),
        ("Asia/Kolkata", "2024-05-01 13:00 IST"),
    ],
)
def test_times_are_absolute_in_the_configured_timezone(timezone: str, shown: str) -> None:
    """The Updated cell is a wall-clock time in the canvas timezone, not "5 minutes ago"."""
    markdown = render_board({"A": [record("A", "D")]}, title="T", timezone=timezone)
    assert split_cells(tables(markdown)[0][2])[3] == shown


@pytest.mark.parametrize(
    ("by", "shown"),
    [
        ("slack:U0ALICE", "![](@U0ALICE)"),
        ("slack:W0ENTERPRISE", "![](@W0ENTERPRISE)"),
        ("api:ci", "api:ci"),
        ("epm:planning", "epm:planning"),
        ("system", "system"),
        ("slack:not-a-user", "slack:not-a-user"),
        ("slack:U0X) ![](@U0EVE", "slack:U0X) \\!\\[\\](@U0EVE"),
    ],
)
def test_slack_users_become_mentions_and_other_authors_stay_text(by: str, shown: str) -> None:
    """Only a well-formed ``slack:U…`` author becomes a canvas mention."""
    markdown = render_board({"A": [record("A", "D", by=by)]}, title="T")
    assert split_cells(tables(markdown)[0][2])[4] == shown


def test_hostile_messages_match_the_golden_document() -> None:
    """Pipes, line breaks, markdown, mentions and control characters render as text."""
    board = {
        "Hostile | App": [
            record("Hostile | App", f"D{n}", Status.WARNING, message)
            for n, message in enumerate(HOSTILE)
        ]
    }
    markdown = render_board(board, title="EPM *Status* #1")
    assert markdown == (GOLDEN / "hostile.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("message", HOSTILE)
def test_a_hostile_message_stays_inside_its_cell(message: str) -> None:
    """Each row keeps exactly five cells and the message reads back as one line of text."""
    markdown = render_board({"A": [record("A", "D", message=message)]}, title="T")
    rows = tables(markdown)[0]
    assert len(rows) == 3
    cells = split_cells(rows[2])
    assert len(cells) == 5
    shown = unescape(cells[2])
    expected = " ".join(re.sub(r"[\x00-\x08\x0e-\x1f\x7f]", "", message).split())
    assert shown == expected
    assert "![](@U0MALLORY)" not in markdown


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["UTC", "Europe/Berlin"]))
def test_no_message_can_break_the_table(message: str, timezone: str) -> None:
    """For any text up to 200 characters: one row, five cells, no live markup."""
    board = {"A": [record("A", "D1", message=message), record("A", "D2", Status.ERROR)]}
    markdown = render_board(board, title="T", timezone=timezone)
    rows = tables(markdown)[0]
    assert len(rows) == 4
    for row in rows[2:]:
        assert len(split_cells(row)) == 5
    cell = split_cells(rows[2])[2]
    assert not [char for _, char in live(cell) if char in "[]!<>`*_~|&\\"]
    assert "\n" not in cell


def test_no_heading_is_deeper_than_h3() -> None:
    """App names and titles full of ``#`` never produce h4 or deeper."""
    board = {"#### App": [record("#### App", f"D{n}") for n in range(130)]}
    markdown = render_board(board, title="### Title")
    for line in markdown.splitlines():
        depth = len(line) - len(line.lstrip("#"))
        assert depth <= 3, line
    assert markdown.startswith("# \\#\\#\\# Title\n")


def test_a_long_app_is_split_into_tables_of_at_most_300_cells() -> None:
    """An app with 130 domains becomes three tables under its h2 and two h3 continuations."""
    board = {"Big": [record("Big", f"Domain {n:03d}") for n in range(130)]}
    markdown = render_board(board, title="T")
    found = tables(markdown)
    assert [len(t) - 2 for t in found] == [59, 59, 12]
    assert all((len(t) - 1) * 5 <= MAX_TABLE_CELLS for t in found)  # the rule line has no cells
    assert "## Big\n" in markdown
    assert "### Big (2/3)\n" in markdown
    assert "### Big (3/3)\n" in markdown
    domains = [split_cells(row)[0] for t in found for row in t[2:]]
    assert domains == [f"Domain {n:03d}" for n in range(130)]


def test_fifty_apps_of_twenty_domains_with_long_messages_fit_the_canvas() -> None:
    """A 1,000-domain estate renders quickly, deterministically and within canvas limits."""
    board = {
        f"App {a:02d}": [
            record(f"App {a:02d}", f"Domain {d:02d}", list(Status)[d % 5], ("m|" * 100)[:200])
            for d in range(20)
        ]
        for a in range(50)
    }
    started = time.perf_counter()
    markdown = render_board(board, title="EPM Status", timezone="Europe/London")
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0
    assert len(markdown.encode("utf-8")) <= MAX_DOCUMENT_BYTES
    assert markdown.count("\n## ") == 50
    found = tables(markdown)
    assert len(found) == 50
    assert all(len(t) == 22 and (len(t) - 1) * 5 <= MAX_TABLE_CELLS for t in found)
    assert all(len(split_cells(row)) == 5 for t in found for row in t)
    assert render_board(board, title="EPM Status", timezone="Europe/London") == markdown


def test_a_board_too_big_for_one_canvas_is_rendered_with_shorter_messages() -> None:
    """When full messages would pass 1 MiB the messages are shortened, never the rows."""
    board = {
        f"App {a}": [record(f"App {a}", f"D{d}", message="|" * 200) for d in range(100)]
        for a in range(40)
    }
    markdown = render_board(board, title="T")
    assert len(markdown.encode("utf-8")) <= MAX_DOCUMENT_BYTES
    rows = [row for t in tables(markdown) for row in t[2:]]
    assert len(rows) == 4000
    message = unescape(split_cells(rows[0])[2])
    assert message == "|" * (SHORT_MESSAGE_CHARS - 1) + "…"


def test_the_output_depends_only_on_the_board() -> None:
    """The same board renders to the same bytes (and hash), whatever the time now."""
    board = {"A": [record("A", "D", message="hello")]}
    first = render_board(board, title="T", timezone="Europe/Paris")
    assert render_board(board, title="T", timezone="Europe/Paris") == first
    assert digest(first) == digest(render_board(board, title="T", timezone="Europe/Paris"))
    later = {"A": [record("A", "D", message="hello", at=datetime(2024, 5, 2, tzinfo=UTC))]}
    assert digest(render_board(later, title="T", timezone="Europe/Paris")) != digest(first)


def test_escape_flattens_whitespace_and_neutralises_markup() -> None:
    """``escape`` returns one trimmed line with markup characters backslash-escaped."""
    assert escape("  a\n\n b\t\tc  ") == "a b c"
    assert escape("[x](y) | *z*") == "\\[x\\](y) \\| \\*z\\*"
