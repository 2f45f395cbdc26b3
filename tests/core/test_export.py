"""The audit export (SPEC §12): RFC 4180 CSV and JSON lines, a window, flat memory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import export
from bot.cli import main
from bot.errors import ValidationError


def entry(at: str, message: str = "", *, old: str | None = "Pending", by: str = "system") -> dict:
    """One history entry as the store keeps it."""
    return {
        "app": "Planning",
        "domain": "Actuals",
        "old_status": old,
        "new_status": "OK",
        "message": message,
        "by": by,
        "at": at,
        "version": 7,
    }


def test_csv_starts_with_the_header_and_ends_lines_with_crlf() -> None:
    """The CSV header ends in approved_by (SPEC §18), empty unless signed off; CRLF lines."""
    signed = {**entry("2026-11-02T10:00:00Z", "signed"), "approved_by": "slack:U0BOB"}
    text = "".join(export.export_chunks([entry("2026-11-02T09:00:00Z", "ok"), signed], "csv"))
    assert text == (
        "at,app,domain,old_status,new_status,message,by,approved_by\r\n"
        "2026-11-02T09:00:00Z,Planning,Actuals,Pending,OK,ok,system,\r\n"
        "2026-11-02T10:00:00Z,Planning,Actuals,Pending,OK,signed,system,slack:U0BOB\r\n"
    )


def test_a_missing_old_status_is_an_empty_field_in_csv_and_null_in_jsonl() -> None:
    """The very first change of a store (no old status) exports cleanly in both formats."""
    item = entry("2026-11-02T09:00:00Z", old=None)
    assert ",Planning,Actuals,,OK," in "".join(export.export_chunks([item], "csv"))
    line = json.loads("".join(export.export_chunks([item], "jsonl")))
    assert line == {
        "at": "2026-11-02T09:00:00Z",
        "app": "Planning",
        "domain": "Actuals",
        "old_status": None,
        "new_status": "OK",
        "message": "",
        "by": "system",
        "approved_by": None,
    }


hostile = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=60,
) | st.sampled_from(['"', '""', ",", "\n", "\r\n", "\r", "\t", 'a,"b"\nc', "é ü 漢 😀"])


@settings(max_examples=150, deadline=None)
@given(messages=st.lists(hostile, min_size=1, max_size=5), by=hostile)
def test_quotes_commas_newlines_tabs_and_non_ascii_round_trip(messages: list[str], by: str) -> None:
    """Whatever a message holds, an RFC 4180 reader gets back exactly what was stored."""
    entries = [entry("2026-11-02T09:00:00Z", m, by=by) for m in messages]
    text = "".join(export.export_chunks(entries, "csv"))
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(export.COLUMNS)
    assert [r[5] for r in rows[1:]] == messages
    assert {r[6] for r in rows[1:]} == {by}
    lines = "".join(export.export_chunks(entries, "jsonl")).split("\n")
    assert [json.loads(line)["message"] for line in lines if line] == messages


def test_since_is_inclusive_and_until_exclusive() -> None:
    """[since, until): an entry exactly at since is in, one exactly at until is out."""
    entries = [entry(f"2026-11-0{d}T00:00:00Z", f"day {d}") for d in (1, 2, 3, 4)]
    since = export.parse_instant("2026-11-02", "--since")
    until = export.parse_instant("2026-11-04T01:00:00+01:00", "--until")  # 00:00 UTC
    rows = list(
        csv.reader(
            io.StringIO("".join(export.export_chunks(entries, "csv", since=since, until=until)))
        )
    )
    assert [r[5] for r in rows[1:]] == ["day 2", "day 3"]


def test_instants_without_an_offset_are_utc() -> None:
    """A date and a naive time are UTC; an offset is converted to UTC."""
    assert export.parse_instant("2026-11-01", "x") == datetime(2026, 11, 1, tzinfo=UTC)
    assert export.parse_instant("2026-11-01T10:00:00+02:00", "x") == datetime(
        2026, 11, 1, 8, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "text", ["yesterday", "2026-13-01", "2026-11-01T25:00", "", "0001-01-01T00:00:00+01:00"]
)
def test_a_malformed_instant_is_a_clear_error(text: str) -> None:
    """A malformed instant names the option and shows the accepted forms."""
    with pytest.raises(
        ValidationError, match=r"--since: .* is not an ISO 8601 instant; use e\.g\."
    ):
        export.parse_instant(text, "--since")


def test_an_empty_window_is_refused() -> None:
    """until at or before since can hold nothing: a clear error rather than an empty file."""
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValidationError, match="until must be later than since"):
        export.check_window(moment, moment)


def test_the_export_reads_its_entries_lazily() -> None:
    """Chunks are produced while the entries are still being read (a stream, not a list)."""
    read = 0

    def entries() -> Iterator[dict[str, Any]]:
        nonlocal read
        for n in range(50_000):
            read += 1
            yield entry("2026-11-02T09:00:00Z", f"change {n}")

    chunks = export.export_chunks(entries(), "jsonl")
    first = next(chunks)
    assert len(first) >= export.CHUNK_CHARS
    assert 0 < read < 50_000
    assert sum(len(c) for c in chunks) > 0 and read == 50_000


# --- the command line ---------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp data directory with the built-in estate, logs as text."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("EPMPULSE_CONFIG", raising=False)
    monkeypatch.delenv("EPMPULSE_LOG_LEVEL", raising=False)
    return tmp_path / "data"


@pytest.mark.usefixtures("data_dir")
def test_export_writes_every_change_in_order(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """`epmpulse export` prints the CSV of every change, oldest first, as UTF-8."""
    assert main(["set", "Planning", "Actuals", "loading", 'GL "batch", ü']) == 0
    assert main(["set", "Planning", "Actuals", "ok"]) == 0
    capsysbinary.readouterr()
    assert main(["export"]) == 0
    out = capsysbinary.readouterr().out.decode("utf-8")
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[0] == list(export.COLUMNS)
    assert [(r[3], r[4], r[5]) for r in rows[1:]] == [
        ("Pending", "Loading", 'GL "batch", ü'),
        ("Loading", "OK", ""),
    ]
    assert main(["export", "--format", "jsonl"]) == 0
    lines = capsysbinary.readouterr().out.decode("utf-8").splitlines()
    assert [json.loads(line)["new_status"] for line in lines] == ["Loading", "OK"]


@pytest.mark.usefixtures("data_dir")
def test_export_filters_by_since_and_until(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """--since/--until select the window; a window after every change leaves the header only."""
    assert main(["set", "ARCS", "Reconciliation", "ok"]) == 0
    capsysbinary.readouterr()
    assert main(["export", "--since", "2000-01-01", "--until", "2999-01-01"]) == 0
    assert len(capsysbinary.readouterr().out.splitlines()) == 2
    assert main(["export", "--since", "2999-01-01"]) == 0
    header = b"at,app,domain,old_status,new_status,message,by,approved_by\r\n"
    assert capsysbinary.readouterr().out == header


@pytest.mark.usefixtures("data_dir")
def test_export_with_a_malformed_instant_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed --until exits 2 naming the option and the accepted forms."""
    assert main(["export", "--until", "last tuesday"]) == 2
    err = capsys.readouterr().err
    assert "--until: 'last tuesday' is not an ISO 8601 instant" in err
