"""The canvas with a close calendar: Due column, overdue rows, waits in the Status cell."""

from __future__ import annotations

from datetime import UTC, datetime, time

from bot.canvas.render import CLOSE_COLUMNS, MAX_TABLE_CELLS, render_board
from bot.close.calendar import Deadline
from bot.close.live import DomainClose
from bot.model import DomainRecord, Status

DUE = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def state(domain: str, **kwargs: object) -> DomainClose:
    """A DomainClose of Planning/``domain`` (Pending, no deadline unless given)."""
    values: dict[str, object] = {
        "app": "Planning",
        "domain": domain,
        "status": Status.PENDING,
        "deadline": None,
        "due_at": None,
        "overdue": False,
        "timezone": "Europe/London",
    }
    values.update(kwargs)
    return DomainClose(**values)  # type: ignore[arg-type]


def records(*names: str) -> dict[str, list[DomainRecord]]:
    """A board of Planning with ``names`` as Pending domains."""
    return {"Planning": [DomainRecord(app="Planning", domain=n) for n in names]}


def test_deadlines_add_a_due_column_after_message() -> None:
    """Header gains Due between Message and Updated; the cell is WD label plus local date."""
    close = {
        ("Planning", "Actuals"): state("Actuals", deadline=Deadline(2, time(12, 0)), due_at=DUE),
        ("Planning", "Budget"): state("Budget"),
    }
    markdown = render_board(records("Actuals", "Budget"), title="EPM", close=close)
    assert "| Domain | Status | Message | Due | Updated | By |" in markdown
    assert "| Actuals | :white_circle: Pending |  | WD2 12:00 · Wed 2026-12-02 | — |  |" in markdown
    assert "| Budget | :white_circle: Pending |  |  | — |  |" in markdown


def test_an_overdue_row_says_so_in_its_due_cell() -> None:
    """A domain marked overdue shows ``overdue`` after its deadline."""
    late = state("Actuals", deadline=Deadline(2, time(12, 0)), due_at=DUE, overdue=True)
    markdown = render_board(records("Actuals"), title="EPM", close={("Planning", "Actuals"): late})
    assert "WD2 12:00 · Wed 2026-12-02 · overdue |" in markdown


def test_a_waiting_row_names_its_upstream_in_the_status_cell() -> None:
    """Waits show without a Due column when no domain has a deadline."""
    waiting = state("Budget", waiting_on=["Planning/Actuals", "FCCS/Actuals"])
    markdown = render_board(records("Budget"), title="EPM", close={("Planning", "Budget"): waiting})
    assert "| Domain | Status | Message | Updated | By |" in markdown
    assert (
        "| Budget | :white_circle: Pending · waiting on Planning/Actuals, FCCS/Actuals |"
        in markdown
    )


def test_without_a_close_the_canvas_is_unchanged() -> None:
    """No close information: the five SPEC §5 columns, byte for byte the same as before."""
    board = records("Actuals")
    assert render_board(board, title="EPM") == render_board(board, title="EPM", close=None)
    assert "| Domain | Status | Message | Updated | By |" in render_board(board, title="EPM")


def test_tables_with_a_due_column_stay_within_the_cell_limit() -> None:
    """Six columns: a table holds at most 300 cells, header row included."""
    names = [f"D{n:03d}" for n in range(120)]
    close = {("Planning", n): state(n, deadline=Deadline(1, time(9, 0)), due_at=DUE) for n in names}
    markdown = render_board(records(*names), title="EPM", close=close)
    tables = markdown.split("| Domain | Status | Message | Due | Updated | By |")[1:]
    assert len(tables) == 3
    for table in tables:
        rows = [line for line in table.splitlines() if line.startswith("| D")]
        assert (len(rows) + 1) * len(CLOSE_COLUMNS) <= MAX_TABLE_CELLS
