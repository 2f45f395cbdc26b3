""" "Did you mean …?" is offered only when a choice is close to what was typed."""

from __future__ import annotations

import pytest

from bot.errors import SUGGESTION_CUTOFF, UnknownNameError, closest_match
from tests.conftest import MakeConfig

STATUSES = ["Pending", "Loading", "OK", "Warning", "Error"]


@pytest.mark.parametrize(
    ("given", "choices", "expected"),
    [
        ("Forcast", ["Actuals", "Forecast", "Budget"], "Forecast"),
        ("plannig", ["Planning", "FCCS", "ARCS"], "Planning"),
        ("Erorr", STATUSES, "Error"),
        ("warn", STATUSES, "Warning"),
        ("okay", STATUSES, "OK"),
        ("histroy", ["status", "history", "track"], "history"),
        ("consol", ["Actuals", "Consolidation"], "Consolidation"),
    ],
)
def test_a_close_name_gets_its_match(given: str, choices: list[str], expected: str) -> None:
    """Typos, prefixes and near misses are matched case-insensitively."""
    assert closest_match(given, choices) == expected


@pytest.mark.parametrize(
    ("given", "choices"),
    [
        ("Done", STATUSES),
        ("Budget", ["Actuals", "Consolidation"]),
        ("finished", STATUSES),
        ("", STATUSES),
        ("Planning", []),
    ],
)
def test_nothing_is_suggested_when_nothing_is_close(given: str, choices: list[str]) -> None:
    """A word unlike every choice (or no word, or no choices) gets no suggestion."""
    assert closest_match(given, choices) is None


def test_the_cut_off_sits_between_a_typo_and_an_unrelated_word() -> None:
    """The threshold is difflib's customary 0.6."""
    assert SUGGESTION_CUTOFF == 0.6


def test_an_unknown_domain_far_from_every_choice_lists_the_choices_only(
    make_config: MakeConfig,
) -> None:
    """FCCS has no Budget: the error names Actuals and Consolidation and suggests nothing."""
    estate = make_config().estate
    with pytest.raises(UnknownNameError) as caught:
        estate.resolve_domain("FCCS", "Budget")
    assert str(caught.value) == ("Unknown domain 'Budget' for FCCS. Valid: Actuals, Consolidation.")
    assert "Did you mean" not in str(caught.value)
