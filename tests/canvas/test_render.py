"""The renderer turns the board into canvas markdown that no message can break."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.canvas.render import (
    MAX_DOCUMENT_BYTES,
    MAX_TABLE_CELLS,
    SHORT_MESSAGE_CHARS,
    cell,
    digest,
    heading,
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
    "GL load failed #42!",
    "ends with a pipe |",
    "\\\\| two backslashes and a pipe, one and a pipe: \\|",
]
# What a table row may not contain: a line break of any flavour (``str.splitlines``).
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


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


def unpipe(text: str) -> str:
    """Undo the cell escaping of ``|``, ``[`` and ``<``: 2k + 1 backslashes and one is k and it."""
    return re.sub(
        r"(\\*)\\([|\[<])", lambda m: m.group(1)[: len(m.group(1)) // 2] + m.group(2), text
    )


def flat(text: str) -> str:
    """``text`` with control characters as spaces and runs of whitespace as one space."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", text).split())


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
        ("slack:U0X) ![](@U0EVE", "slack:U0X) !\\[](@U0EVE"),
        ("api:a|b", "api:a\\|b"),
    ],
)
def test_slack_users_become_mentions_and_other_authors_stay_text(by: str, shown: str) -> None:
    """Only a well-formed ``slack:U…`` author becomes a canvas mention."""
    markdown = render_board({"A": [record("A", "D", by=by)]}, title="T")
    assert split_cells(tables(markdown)[0][2])[4] == shown


def test_hostile_messages_match_the_golden_document() -> None:
    """Pipes are escaped, breaks and control characters flattened, the rest left as typed."""
    board = {
        "Hostile | App": [
            record("Hostile | App", f"D{n}", Status.WARNING, message)
            for n, message in enumerate(HOSTILE)
        ]
    }
    markdown = render_board(board, title="EPM *Status* #1")
    assert markdown == (GOLDEN / "hostile.md").read_text(encoding="utf-8")


def test_a_gfm_parser_reads_one_row_of_five_cells_per_hostile_message() -> None:
    """A real GFM table parser (markdown-it-py) agrees: no message adds a row or a cell."""
    markdown_it = pytest.importorskip("markdown_it")
    parser = markdown_it.MarkdownIt("commonmark").enable("table")
    text = (GOLDEN / "hostile.md").read_text(encoding="utf-8")
    rows: list[list[str]] = []
    for token in parser.parse(text):
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and token.level > 2:
            rows[-1].append(token.content)
    assert len(rows) == 1 + len(HOSTILE)
    assert {len(row) for row in rows} == {5}
    assert [row[0] for row in rows[1:]] == [f"D{n}" for n in range(len(HOSTILE))]
    assert rows[1 + HOSTILE.index("GL load failed #42!")][2] == "GL load failed #42!"
    headings = [t.content for t in parser.parse(text) if t.type == "inline" and t.level == 1]
    assert headings == ["EPM *Status* #1", "Hostile | App"]


@pytest.mark.parametrize("message", HOSTILE)
def test_a_hostile_message_stays_inside_its_cell(message: str) -> None:
    """Each row keeps exactly five cells and the message reads back as one line of text."""
    markdown = render_board({"A": [record("A", "D", message=message)]}, title="T")
    rows = tables(markdown)[0]
    assert len(rows) == 3
    cells = split_cells(rows[2])
    assert len(cells) == 5
    assert flat(unpipe(cells[2])) == flat(message)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["UTC", "Europe/Berlin"]))
def test_no_message_can_break_the_table(message: str, timezone: str) -> None:
    """For any text up to 200 characters: one row, five cells, the message intact."""
    board = {"A": [record("A", "D1", message=message), record("A", "D2", Status.ERROR)]}
    markdown = render_board(board, title="T", timezone=timezone)
    rows = tables(markdown)[0]
    assert len(rows) == 4
    for row in rows[2:]:
        assert len(split_cells(row)) == 5
    shown = split_cells(rows[2])[2]
    assert not [char for _, char in live(shown) if char == "|"]
    assert not set(shown) & set(LINE_BREAKS)
    assert flat(unpipe(shown)) == flat(message)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("\\| a#\n"), max_size=40))
def test_backslashes_before_pipes_never_free_a_separator(message: str) -> None:
    """Messages made of backslashes and pipes still give one row of five cells."""
    markdown = render_board({"A": [record("A", "D", message=message, by="api:x\\")]}, title="T")
    (row,) = tables(markdown)[0][2:]
    cells = split_cells(row)
    assert len(cells) == 5
    assert flat(unpipe(cells[2])) == flat(message)


def test_no_heading_is_deeper_than_h3() -> None:
    """App names and titles full of ``#`` never produce h4 or deeper."""
    board = {"#### App": [record("#### App", f"D{n}") for n in range(130)]}
    markdown = render_board(board, title="### Title")
    for line in markdown.splitlines():
        depth = len(line) - len(line.lstrip("#"))
        assert depth <= 3, line
    assert markdown.startswith("# ### Title\n")


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
    """A 1,000-domain estate renders deterministically and within canvas limits.

    How fast it renders is bench/canvas.py's and bench/close.py's to measure."""
    board = {
        f"App {a:02d}": [
            record(f"App {a:02d}", f"Domain {d:02d}", list(Status)[d % 5], ("m|" * 100)[:200])
            for d in range(20)
        ]
        for a in range(50)
    }
    markdown = render_board(board, title="EPM Status", timezone="Europe/London")
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
    message = unpipe(split_cells(rows[0])[2])
    assert message == "|" * (SHORT_MESSAGE_CHARS - 1) + "…"


def test_the_output_depends_only_on_the_board() -> None:
    """The same board renders to the same bytes (and hash), whatever the time now."""
    board = {"A": [record("A", "D", message="hello")]}
    first = render_board(board, title="T", timezone="Europe/Paris")
    assert render_board(board, title="T", timezone="Europe/Paris") == first
    assert digest(first) == digest(render_board(board, title="T", timezone="Europe/Paris"))
    later = {"A": [record("A", "D", message="hello", at=datetime(2024, 5, 2, tzinfo=UTC))]}
    assert digest(render_board(later, title="T", timezone="Europe/Paris")) != digest(first)


def test_a_message_is_published_as_typed_so_a_search_finds_it() -> None:
    """Only ``|``, ``[`` and ``<`` are escaped: ``GL load failed #42!`` is shown verbatim."""
    board = {"A": [record("A", "D", Status.ERROR, "GL load failed #42! See *log* [1] <x> & ~y_")]}
    markdown = render_board(board, title="T")
    assert "| GL load failed #42! See *log* \\[1] \\<x> & ~y_ |" in markdown


def test_a_cell_is_one_line_with_pipes_brackets_and_angles_escaped() -> None:
    """``cell`` flattens breaks and control characters and escapes ``|``, ``[``, ``<`` only."""
    assert cell("  a\n\n b\t\tc  ") == "a b c"
    assert cell("keep  double  spaces") == "keep  double  spaces"
    assert cell("[x](y) | *z* #1!") == "\\[x](y) \\| *z* #1!"
    assert cell("<!here> ![](@U1)") == "\\<!here> !\\[](@U1)"
    assert cell("a \\[ b") == "a \\\\\\[ b"
    assert cell("a \\| b") == "a \\\\\\| b"
    assert cell("a \\\\| b") == "a \\\\\\\\\\| b"
    assert cell("trailing \\") == "trailing \\"


def test_a_heading_keeps_its_text_on_one_line() -> None:
    """``heading`` flattens line breaks and keeps a trailing ``#`` that Markdown would drop."""
    assert heading("Close | Q1 *FY24* #1") == "Close | Q1 *FY24* #1"
    assert heading("two\nlines") == "two lines"
    assert heading("Release #") == "Release \\#"
    markdown = render_board({"Ops ##": [record("Ops ##", "D")]}, title="Board\r\n#")
    assert markdown.startswith("# Board \\#\n\n## Ops \\##\n")


# Pieces of messages that would mention, link or break a table if published as typed.
MENTION_PIECES = [
    "![](@U0EVE)",
    "![](#C0GENERAL)",
    "![](https://acme.slack.com/docs/T1/F1)",
    "<@U0EVE>",
    "<#C0GENERAL|general>",
    "<!here>",
    "<!channel>",
    "<!subteam^S0OPS>",
    "<https://evil.example>",
    "<b>",
    "[eve](@U0EVE)",
    "[x](#C1)",
    "![",
    "](",
    "\\",
    "\\\\",
    "|",
    "[",
    "]",
    "(",
    ")",
    "<",
    ">",
    "!",
    "@U0EVE",
    "*",
    "_",
    "`",
    " ",
    "\n",
    "\t",
    "é",
]
hostile_messages = st.lists(st.sampled_from(MENTION_PIECES) | st.text(max_size=4), max_size=24).map(
    "".join
)


def live_elements(inline: object) -> list[str]:
    """The token types in one parsed cell that would mention, link or embed something."""
    children = getattr(inline, "children", None) or []
    return [child.type for child in children if child.type in ("image", "link_open", "html_inline")]


@settings(max_examples=300, deadline=None)
@given(message=hostile_messages)
def test_no_message_can_mention_anyone_or_break_the_table(message: str) -> None:
    """A GFM parser finds no mention, link or HTML in a message cell, and the table intact.

    Only the By column holds a mention, of the Slack user who made the change; the
    message keeps its characters (one line, escapes undone).
    """
    markdown_it = pytest.importorskip("markdown_it")
    parser = markdown_it.MarkdownIt("commonmark").enable("table")
    board = {
        "A": [
            record("A", "D1", Status.ERROR, message.strip()[:200], by="slack:U0ALICE"),
            record("A", "D2", Status.OK, message.strip()[:200], by="api:ci"),
        ]
    }
    rows: list[list[object]] = []
    for token in parser.parse(render_board(board, title="T")):
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and token.level > 2:
            rows[-1].append(token)
    assert len(rows) == 3
    assert {len(row) for row in rows} == {5}
    for row in rows[1:]:
        for inline in row[:4]:
            assert live_elements(inline) == [], message
    assert live_elements(rows[1][4]) == ["image"]
    (image,) = rows[1][4].children  # type: ignore[attr-defined]
    assert image.attrs["src"] == "@U0ALICE"
    assert live_elements(rows[2][4]) == []
    shown = split_cells(tables(render_board(board, title="T"))[0][2])[2]
    assert flat(unpipe(shown)) == flat(message.strip()[:200])
