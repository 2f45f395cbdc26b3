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
