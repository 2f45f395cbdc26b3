"""The ``close:`` section: valid shapes and every mistake listed in one ConfigError."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.close.calendar import CloseCalendar
from bot.errors import ConfigError
from tests.conftest import MakeConfig

GOOD = """
close:
  timezone: Europe/London
  holidays: {country: GB, subdivision: ENG, extra: ["2026-12-24"]}
  weekend: [saturday, Sunday]
  reset: true
  deadlines:
    planning/actuals: "WD2 12:00"
    FCCS/Consolidation: "wd4 17:00"
  depends_on:
    FCCS/Actuals: [Planning/Actuals]
    FCCS/Consolidation: [FCCS/Actuals]
"""

BAD = """
close:
  holidays: {country: XX}
  weekend: [Saturday, Sundy]
  deadlines:
    Planning/Actualz: "WD2 12:00"
    FCCS/Actuals: "WD0 10:00"
    FCCS/Consolidation: "WD3 25:00"
    Planning/Forecast: "WD24 10:00"
  depends_on:
    FCCS/Actuals: [Planning/Actuals]
    Planning/Actuals: [FCCS/Consolidation]
    FCCS/Consolidation: [FCCS/Actuals]
"""


def test_a_valid_close_section_builds_the_calendar(make_config: MakeConfig) -> None:
    """Names are matched case-insensitively and become canonical keys of the calendar."""
    estate = make_config(GOOD).estate
    assert estate.close is not None and estate.close.reset is True
    apps = {name: app.domains for name, app in estate.apps.items()}
    cal = CloseCalendar.from_config(estate.layout.close, apps, estate.canvas.timezone)
    assert cal.timezone == "Europe/London"
    assert cal.deadlines[("Planning", "Actuals")].label == "WD2 12:00"
    assert cal.due_at("2026-11", ("FCCS", "Consolidation")) == datetime(
        2026, 12, 4, 17, 0, tzinfo=UTC
    )
    assert cal.upstream(("FCCS", "Consolidation")) == (("FCCS", "Actuals"),)
    assert not cal.is_working_day(date(2026, 12, 24))


def test_without_a_close_section_there_is_none(make_config: MakeConfig) -> None:
    """The close section is optional."""
    assert make_config().estate.close is None


def test_every_close_mistake_is_listed_in_one_error(make_config: MakeConfig) -> None:
    """Unknown country, weekday, name (with closest match), WD0, 25:00 and a cycle, at once."""
    with pytest.raises(ConfigError) as caught:
        make_config(BAD)
    text = str(caught.value)
    assert "unknown holiday country 'XX'" in text
    assert "'Sundy' is not a day of the week (did you mean Sunday?)" in text
    assert "'WD0 10:00': working days count from WD1" in text
    assert "25:00 is not a time of day" in text
    assert "unknown domain 'Planning/Actualz'" in text
    assert "did you mean Planning/Actuals?" in text
    assert "a cycle: FCCS/Actuals -> Planning/Actuals -> FCCS/Consolidation -> FCCS/Actuals" in text


def test_names_cycles_and_impossible_days_are_listed_together(make_config: MakeConfig) -> None:
    """With every field well-formed, the cross-checks still list every problem at once."""
    yaml_text = """
close:
  deadlines:
    Planning/Actualz: "WD2 12:00"
    Planning/Forecast: "WD24 10:00"
  depends_on:
    FCCS/Actuals: [Planning/Actuals]
    Planning/Actuals: [FCCS/actuals]
"""
    with pytest.raises(ConfigError) as caught:
        make_config(yaml_text)
    problems = caught.value.problems
    assert len(problems) == 3
    assert any("WD24 10:00' is a working day no month has (at most WD23" in p for p in problems)
    assert any("a cycle: FCCS/Actuals -> Planning/Actuals -> FCCS/Actuals" in p for p in problems)
    assert not any("(top level)" in p for p in problems)


def test_an_unknown_subdivision_names_the_valid_ones(make_config: MakeConfig) -> None:
    """A subdivision the country does not have lists the ones it has."""
    with pytest.raises(ConfigError) as caught:
        make_config("close: {holidays: {country: GB, subdivision: XYZ}}")
    assert "unknown subdivision 'XYZ' of GB; valid: ENG, NIR, SCT, WLS" in str(caught.value)


def test_a_holiday_country_is_case_insensitive_and_a_hint_is_given_only_when_close(
    make_config: MakeConfig,
) -> None:
    """`gb` works like `GB`; a country nothing resembles gets no "did you mean None?"."""
    config = make_config("close: {holidays: {country: gb, subdivision: ENG}}")
    assert config.estate.close is not None
    assert config.estate.close.holidays.country == "GB"
    with pytest.raises(ConfigError) as caught:
        make_config("close: {holidays: {country: QQQQ}}")
    assert "unknown holiday country 'QQQQ'" in str(caught.value)
    assert "None" not in str(caught.value)


def test_a_weekend_of_every_day_is_refused(make_config: MakeConfig) -> None:
    """A calendar needs at least one working day a week."""
    days = "[Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday]"
    with pytest.raises(ConfigError, match="no working day is left"):
        make_config(f"close: {{weekend: {days}}}")


def test_an_empty_weekend_allows_deadlines_up_to_wd31(make_config: MakeConfig) -> None:
    """With no weekend a month may have 31 working days; WD32 is a config error."""
    make_config('close: {weekend: [], deadlines: {"ARCS/Reconciliation": "WD31 09:00"}}')
    with pytest.raises(ConfigError, match="at most WD31"):
        make_config('close: {weekend: [], deadlines: {"ARCS/Reconciliation": "WD32 09:00"}}')


def test_a_server_problem_is_reported_once(make_config: MakeConfig) -> None:
    """A cross-reference problem found by both checks appears once in the error."""
    with pytest.raises(ConfigError) as caught:
        make_config("apps:\n  Planning: {domains: [Actuals], server: nope}\n")
    assert len(caught.value.problems) == 1


def test_a_domain_depending_on_itself_is_a_cycle(make_config: MakeConfig) -> None:
    """The smallest cycle is named too."""
    with pytest.raises(ConfigError, match="a cycle: ARCS/Reconciliation -> ARCS/Reconciliation"):
        make_config("close: {depends_on: {ARCS/Reconciliation: [arcs/reconciliation]}}")
