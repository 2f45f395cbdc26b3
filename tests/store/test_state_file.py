"""Validating ``state.json`` on open: each kind of damage is named, a good file passes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot.store.state_file import parse

RECORD = {
    "app": "Planning",
    "domain": "Actuals",
    "status": "OK",
    "updated_at": "2026-11-30T09:00:00Z",
}
GOOD: dict[str, Any] = {
    "schema_version": 1,
    "version": 3,
    "records": {"Planning": {"Actuals": RECORD}},
    "meta": {"canvas.id": "F1"},
    "last_changes": [],
}


def test_a_good_state_file_is_read_with_its_records_and_meta() -> None:
    """Version, records by (app, domain) and meta come back as stored."""
    state, last_changes = parse(json.dumps(GOOD).encode(), validate=True)
    assert (state.version, dict(state.meta), last_changes) == (3, {"canvas.id": "F1"}, [])
    assert state.records[("Planning", "Actuals")] == RECORD


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"colour": "red"}, "field colour is not known"),
        ({"meta": None, "last_changes": None}, "meta is not an object"),
        ({"schema_version": 2}, "schema_version 2 is not 1"),
        ({"version": -1}, "version -1 is not a whole number >= 0"),
        ({"version": True}, "version True is not a whole number >= 0"),
        ({"version": "3"}, "version '3' is not a whole number >= 0"),
        ({"last_changes": [1]}, "last_changes is not a list of objects"),
        ({"records": []}, "records is not an object"),
        ({"records": {"Planning": []}}, "records.Planning is not an object"),
        (
            {"records": {"Planning": {"Actuals": {**RECORD, "status": "Done"}}}},
            "records.Planning.Actuals: 'Done' is not a status",
        ),
    ],
)
def test_a_damaged_state_file_is_refused_naming_what_is_wrong(
    change: dict[str, Any], problem: str
) -> None:
    """Validation on open names the first problem (the store then restores a backup)."""
    with pytest.raises(ValueError, match=f"^invalid state: {re.escape(problem)}$"):
        parse(json.dumps({**GOOD, **change}).encode(), validate=True)


def test_a_missing_field_is_named() -> None:
    """Every top-level field is required."""
    document = {k: v for k, v in GOOD.items() if k != "meta"}
    with pytest.raises(ValueError, match=r"^invalid state: field meta is missing$"):
        parse(json.dumps(document).encode(), validate=True)
