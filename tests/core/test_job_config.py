"""Configuring the EPM job of a domain (SPEC §13): accepted shapes and every problem listed."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from tests.conftest import MakeConfig

SERVERS = """
epm:
  servers:
    planning:
      kind: planning
      base_url: https://planning.example.com
      application: Vision
      auth: {type: basic, username: u, password: p}
    di:
      kind: data_integration
      base_url: https://planning.example.com
      auth: {type: basic, username: u, password: p}
    arcs:
      kind: arcs
      base_url: https://arcs.example.com
      auth: {type: basic, username: u, password: p}
"""


def test_jobs_are_read_with_type_name_and_parameters(make_config: MakeConfig) -> None:
    """A job per domain keeps its type, name and typed parameter values."""
    config = make_config(
        """
apps:
  Planning:
    domains: [Actuals, Forecast]
    server: planning
    jobs:
      Actuals: {type: RULES, name: Aggregate Actuals, parameters: {Scenario: Actual, Years: 2}}
  Data:
    domains: [GL]
    server: di
    jobs:
      GL: {type: INTEGRATION, name: GLDATA, parameters: {periodName: "{$PERIOD}"}}
"""
        + SERVERS
    )
    apps = config.estate.apps
    job = apps["Planning"].jobs["Actuals"]
    assert (job.type, job.name) == ("RULES", "Aggregate Actuals")
    assert job.parameters == {"Scenario": "Actual", "Years": 2}
    assert apps["Data"].jobs["GL"].parameters == {"periodName": "{$PERIOD}"}
    assert apps["Planning"].jobs.get("Forecast") is None


def test_every_job_problem_is_listed_with_the_others(make_config: MakeConfig) -> None:
    """Unknown domain (closest match), no server, arcs server: all listed together."""
    with pytest.raises(ConfigError) as caught:
        make_config(
            """
apps:
  Planning:
    domains: [Actuals, Forecast]
    server: planning
    jobs: {Actual: {type: RULES, name: Agg}}
  FCCS:
    domains: [Consolidation]
    jobs: {Consolidation: {type: RULES, name: Consolidate}}
  ARCS:
    domains: [Reconciliation]
    server: arcs
    jobs: {Reconciliation: {type: RULES, name: Import}}
staleness: {max_loading_minutes: -1}
"""
            + SERVERS
        )
    problems = caught.value.problems
    assert any("apps.Planning.jobs.Actual: 'Actual' is not a domain" in p for p in problems)
    assert any("did you mean Actuals?" in p for p in problems)
    assert any("apps.FCCS.jobs: starting jobs needs an EPM server" in p for p in problems)
    assert any("arcs server 'arcs'" in p for p in problems)
    assert any("max_loading_minutes" in p for p in problems)
    assert len(problems) == 4, problems


def test_a_lone_job_problem_is_reported_once(make_config: MakeConfig) -> None:
    """With every field valid, a bad job reference is one problem, not a duplicate."""
    with pytest.raises(ConfigError) as caught:
        make_config(
            "apps:\n  Planning:\n    domains: [Actuals]\n    server: arcs\n"
            "    jobs: {Actuals: {type: RULES, name: Agg}}\n" + SERVERS
        )
    assert len(caught.value.problems) == 1, caught.value.problems
    assert "arcs server" in caught.value.problems[0]


def test_a_data_integration_job_may_not_set_its_name_in_parameters(
    make_config: MakeConfig,
) -> None:
    """jobName among a Data Integration job's parameters would clash with its name."""
    with pytest.raises(ConfigError) as caught:
        make_config(
            "apps:\n  Data:\n    domains: [GL]\n    server: di\n"
            "    jobs: {GL: {type: INTEGRATION, name: GLDATA, parameters: {jobName: X}}}\n"
            + SERVERS
        )
    assert "apps.Data.jobs.GL.parameters: jobName is set by type and name" in str(caught.value)


def test_a_job_with_unknown_keys_or_no_name_is_refused(make_config: MakeConfig) -> None:
    """A job needs type and name; unknown keys are named."""
    with pytest.raises(ConfigError) as caught:
        make_config(
            "apps:\n  Planning:\n    domains: [Actuals]\n    server: planning\n"
            "    jobs: {Actuals: {type: RULES, nmae: Agg}}\n" + SERVERS
        )
    text = str(caught.value)
    assert "apps.Planning.jobs.Actuals.name: Field required" in text
    assert "apps.Planning.jobs.Actuals.nmae: unknown key" in text


def _job_problems(make_config: MakeConfig, app: str) -> list[str]:
    """The problems a configuration with one app (and SERVERS) is refused with."""
    with pytest.raises(ConfigError) as caught:
        make_config(app + SERVERS)
    return caught.value.problems


def test_period_format_tokens_are_accepted_with_month_and_year_codes(
    make_config: MakeConfig,
) -> None:
    """${PERIOD:%b} and FY${PERIOD:%y} are valid values; ${PERIOD} stays an env reference."""
    config = make_config(
        "apps:\n  Planning:\n    domains: [Actuals]\n    server: planning\n"
        "    jobs: {Actuals: {type: RULES, name: Agg, parameters: "
        '{Period: "${PERIOD:%b}", Years: "FY${PERIOD:%y}"}}}\n' + SERVERS
    )
    parameters = config.estate.apps["Planning"].jobs["Actuals"].parameters
    assert parameters == {"Period": "${PERIOD:%b}", "Years": "FY${PERIOD:%y}"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${PERIOD:%d}", "%d is not a month or year code; use %b (Oct), %B (October)"),
        ("${PERIOD:FY}", "'FY' names no part of the period"),
        ("${PERIOD:%y%}", "ends in a lone %"),
        ("FY${PERIOD:%y", "'${PERIOD:' has no closing }"),
    ],
)
def test_a_period_token_with_a_bad_format_is_a_config_error(
    make_config: MakeConfig, value: str, message: str
) -> None:
    """A format with a day, time or unknown code, no code at all, or no } is refused."""
    problems = _job_problems(
        make_config,
        "apps:\n  Planning:\n    domains: [Actuals]\n    server: planning\n"
        f"    jobs: {{Actuals: {{type: RULES, name: Agg, parameters: {{Years: '{value}'}}}}}}\n",
    )
    assert len(problems) == 1, problems
    assert "apps.Planning.jobs.Actuals.parameters.Years: " in problems[0]
    assert message in problems[0]


@pytest.mark.parametrize(("value", "fix"), [("Oct-26", "{Oct-26}"), ("$PERIOD", "{$PERIOD}")])
def test_a_data_integration_period_outside_braces_is_a_config_error_showing_the_fix(
    make_config: MakeConfig, value: str, fix: str
) -> None:
    """periodName Oct-26 or $PERIOD: the problem shows the value in braces to write instead."""
    problems = _job_problems(
        make_config,
        "apps:\n  Data:\n    domains: [GL]\n    server: di\n"
        "    jobs: {GL: {type: INTEGRATION, name: GLDATA, parameters: "
        f"{{periodName: '{value}'}}}}}}\n",
    )
    assert problems == [
        f"epmpulse.yml: apps.Data.jobs.GL.parameters.periodName: Data Integration takes "
        f'periods in braces; write periodName: "{fix}"'
    ]


def test_start_and_end_periods_need_braces_too_and_braced_tokens_pass(
    make_config: MakeConfig,
) -> None:
    """startPeriod and endPeriod are checked like periodName; {…} around tokens is accepted."""
    problems = _job_problems(
        make_config,
        "apps:\n  Data:\n    domains: [GL, AP]\n    server: di\n    jobs:\n"
        "      GL: {type: DATARULE, name: GLRULE, parameters: "
        "{startPeriod: $PERIOD, endPeriod: '{$PERIOD}'}}\n"
        "      AP: {type: INTEGRATION, name: AP, parameters: "
        "{periodName: '{${PERIOD:%b}-${PERIOD:%y}}{Dec-26}'}}\n",
    )
    assert len(problems) == 1, problems
    assert "apps.Data.jobs.GL.parameters.startPeriod: " in problems[0]
    assert 'write startPeriod: "{$PERIOD}"' in problems[0]


def test_documented_planning_job_types_are_accepted_in_either_documented_spelling(
    make_config: MakeConfig,
) -> None:
    """RULES and Rules, CUBE_REFRESH and Cube Refresh: both spellings Oracle documents."""
    config = make_config(
        "apps:\n  Planning:\n    domains: [Actuals, Forecast, Budget, Plan]\n"
        "    server: planning\n    jobs:\n"
        "      Actuals: {type: RULES, name: Agg}\n"
        "      Forecast: {type: Rules, name: Agg}\n"
        "      Budget: {type: Cube Refresh, name: Refresh}\n"
        "      Plan: {type: CUBE_REFRESH, name: Refresh}\n" + SERVERS
    )
    jobs = config.estate.apps["Planning"].jobs
    assert [jobs[d].type for d in ("Actuals", "Forecast", "Budget", "Plan")] == [
        "RULES",
        "Rules",
        "Cube Refresh",
        "CUBE_REFRESH",
    ]


def test_a_job_type_in_the_wrong_case_is_refused_with_a_suggestion(
    make_config: MakeConfig,
) -> None:
    """Oracle's values are case sensitive: rules is refused, naming RULES and the valid types."""
    (problem,) = _job_problems(
        make_config,
        "apps:\n  Planning:\n    domains: [Actuals]\n    server: planning\n"
        "    jobs: {Actuals: {type: rules, name: Agg}}\n",
    )
    assert "apps.Planning.jobs.Actuals.type: 'rules' is not a job type Oracle documents" in problem
    assert "(did you mean RULES?)" in problem
    assert "valid: Rules, RULES, Ruleset, RULESET, Plan Type Map" in problem


def test_job_problems_are_listed_with_every_other_problem(make_config: MakeConfig) -> None:
    """An unknown type on fccs, an unbraced period, a bad format and a bad field: all four."""
    fccs = (
        "    fccs:\n      kind: fccs\n      base_url: https://fccs.example.com\n"
        "      application: Consol\n      auth: {type: basic, username: u, password: p}\n"
    )
    with pytest.raises(ConfigError) as caught:
        make_config(
            """
apps:
  Close:
    domains: [Consolidation]
    server: fccs
    jobs: {Consolidation: {type: Consolidate, name: Run, parameters: {Day: "${PERIOD:%j}"}}}
  Data:
    domains: [GL]
    server: di
    jobs: {GL: {type: INTEGRATION, name: GLDATA, parameters: {periodName: Oct-26}}}
staleness: {max_loading_minutes: -1}
"""
            + SERVERS
            + fccs
        )
    problems = caught.value.problems
    assert any("apps.Close.jobs.Consolidation.type: 'Consolidate' is not" in p for p in problems)
    assert any("apps.Close.jobs.Consolidation.parameters.Day: ${PERIOD:%j}" in p for p in problems)
    assert any('write periodName: "{Oct-26}"' in p for p in problems)
    assert any("max_loading_minutes" in p for p in problems)
    assert len(problems) == 4, problems


def test_data_integration_job_types_are_not_checked(make_config: MakeConfig) -> None:
    """Oracle publishes no list of them (and its own pipeline example sends "pipeline")."""
    config = make_config(
        "apps:\n  Data:\n    domains: [GL]\n    server: di\n"
        "    jobs: {GL: {type: pipeline, name: DAILYLOAD}}\n" + SERVERS
    )
    assert config.estate.apps["Data"].jobs["GL"].type == "pipeline"
