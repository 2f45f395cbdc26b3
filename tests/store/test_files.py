"""The JSON store's file helpers: reading a file's tail, and parsing JSON lines."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from bot.store import files


def test_tails_grow_fourfold_until_they_hold_the_whole_file(tmp_path: Path) -> None:
    """Each tail is four times the last, ends where the file ends, and the last is all of it."""
    path = tmp_path / "lines"
    path.write_bytes(bytes(range(100)))
    fd = os.open(path, os.O_RDONLY)
    try:
        seen = list(files.tails(fd, 100, 4))
    finally:
        os.close(fd)
    assert [len(data) for data, _ in seen] == [4, 16, 64, 100]
    assert [start for _, start in seen] == [False, False, False, True]
    assert all(data == bytes(range(100))[-len(data) :] for data, _ in seen)


def test_a_tail_of_an_empty_file_is_the_whole_file(tmp_path: Path) -> None:
    """An empty file gives one empty tail that starts at the beginning."""
    path = tmp_path / "empty"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert list(files.tails(fd, 0, 4)) == [(b"", True)]
    finally:
        os.close(fd)


def test_parse_lines_skips_a_cut_first_line_bad_json_and_non_objects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Objects are kept in order; bad JSON and a torn last line are reported, not raised."""
    data = b'"app": "cut"}\n{"n": 1}\n\n[1, 2]\nnot json\n{"n": 2}\n{"n": 3, "to'
    with caplog.at_level(logging.WARNING):
        entries = files.parse_lines(data, source="history.jsonl", from_start=False)
    assert entries == [{"n": 1}, {"n": 2}]
    assert "history.jsonl: skipped an unreadable line (4 from the part read)" in caplog.text
    assert "torn last line" in caplog.text
