"""Configuration: environment, YAML, ${VAR} interpolation and one error listing every problem."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError, UnknownNameError
from tests.conftest import MakeConfig

GOOD_YAML = """
apps:
  Planning: {domains: [Actuals, Forecast], server: planning}
  ARCS: {domains: [Reconciliation]}
epm:
  servers:
    planning:
      kind: planning
      base_url: https://example-planning.epm.oraclecloud.com
      application: Vision
      auth: {type: basic, username: "${EPM_USER}", password: "${EPM_PASSWORD}"}
  max_workers: 4
staleness: {max_loading_minutes: 90}
canvas: {title: Close board, timezone: Europe/London}
"""


def test_it_uses_the_built_in_estate_without_a_file(make_config: MakeConfig) -> None:
    """With no YAML file the default estate of SPEC §3 applies."""
    config = make_config()
    assert {app: cfg.domains for app, cfg in config.estate.apps.items()} == {
        "Planning": ["Actuals", "Forecast", "Budget"],
        "FCCS": ["Actuals", "Consolidation"],
        "ARCS": ["Reconciliation"],
    }
    assert config.estate.epm.servers == {}
    assert config.settings.http_port == 8080
    assert config.settings.canvas_debounce_seconds == 3
    assert config.poll_interval_seconds == 30


def test_it_reads_yaml_and_interpolates_environment_variables(make_config: MakeConfig) -> None:
    """${VAR} in the YAML is replaced from the environment."""
    config = make_config(GOOD_YAML, EPM_USER="svc_epm", EPM_PASSWORD="s3cret!")
    server = config.estate.epm.servers["planning"]
    assert server.auth.type == "basic"
    assert server.auth.username == "svc_epm"
    assert server.auth.password.get_secret_value() == "s3cret!"
    assert "s3cret!" not in repr(config)
    assert config.estate.canvas.timezone == "Europe/London"
    assert config.estate.staleness.max_loading_minutes == 90
    assert config.estate.apps["Planning"].server == "planning"


def test_it_reads_settings_from_the_environment(make_config: MakeConfig) -> None:
    """Environment variables fill the typed settings."""
    config = make_config(
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_APP_TOKEN="xapp-1",
        SLACK_API_URL="http://127.0.0.1:9999/api",
        EPMPULSE_API_KEYS="ci:abc123, ops:def456",
        EPMPULSE_EDITORS="U1,S2 U3",
        EPMPULSE_HTTP_PORT="9090",
        EPMPULSE_CANVAS_DEBOUNCE_SECONDS="1.5",
        EPMPULSE_POLL_INTERVAL_SECONDS="10",
        EPMPULSE_LOG_LEVEL="debug",
        EPMPULSE_LOG_FORMAT="TEXT",
    )
    settings = config.settings
    assert settings.slack_api_url == "http://127.0.0.1:9999/api/"
    assert {n: k.get_secret_value() for n, k in settings.api_keys.items()} == {
        "ci": "abc123",
        "ops": "def456",
    }
    assert settings.editors == ("U1", "S2", "U3")
    assert settings.http_port == 9090
    assert settings.canvas_debounce_seconds == 1.5
    assert config.poll_interval_seconds == 10
    assert (settings.log_level, settings.log_format) == ("DEBUG", "text")
    assert "abc123" not in repr(settings)


def test_it_reports_three_mistakes_in_one_error(make_config: MakeConfig) -> None:
    """A config with three mistakes reports all three at once."""
    bad = """
apps:
  Planning: {domains: [Actuals]}
canvas: {title: Board, timezone: Mars/Olympus}
colour: blue
"""
    with pytest.raises(ConfigError) as caught:
        make_config(bad, EPMPULSE_HTTP_PORT="eighty")
    problems = caught.value.problems
    assert len(problems) == 3, problems
    text = str(caught.value)
    assert "EPMPULSE_HTTP_PORT" in text
    assert "unknown key" in text and "colour" in text
    assert "Mars/Olympus" in text


def test_an_unknown_key_names_the_valid_keys_and_the_closest(make_config: MakeConfig) -> None:
    """A misspelt key at any depth names the keys valid there and suggests the closest."""
    bad = """\
apps:
  Planning: {domains: [Actuals], sever: planning}
epm:
  servers:
    planning:
      kind: planning
      base_url: https://epm.example.com
      application: Vision
      auth: {type: basic, username: u, password: p, pasword: p}
stalenes: {max_loading_minutes: 5}
"""
    with pytest.raises(ConfigError) as caught:
        make_config(bad)
    problems = [p.partition(": ")[2] for p in caught.value.problems]
    assert sorted(problems) == [
        "apps.Planning.sever: unknown key; valid: domains, server, jobs (did you mean server?)",
        "epm.servers.planning.auth.basic.pasword: unknown key; valid: type, username, "
        "password (did you mean password?)",
        "stalenes: unknown key; valid: apps, epm, staleness, canvas, close "
        "(did you mean staleness?)",
    ]


def test_it_reports_every_yaml_problem_including_bad_references(make_config: MakeConfig) -> None:
    """Unknown server references and missing applications are listed together."""
    bad = """
apps:
  Planning: {domains: [Actuals], server: nowhere}
epm:
  servers:
    fccs:
      kind: fccs
      base_url: https://x.example.com
      auth: {type: basic, username: u, password: p}
"""
    with pytest.raises(ConfigError) as caught:
        make_config(bad)
    assert caught.value.problems == [
        "epmpulse.yml: epm.servers.fccs: 'application' is required for kind fccs",
        "epmpulse.yml: apps.Planning.server 'nowhere' is not a configured EPM server; valid: fccs",
    ]


def test_it_names_missing_environment_variables(make_config: MakeConfig) -> None:
    """A ${VAR} that is not set is a problem naming the variable and where it is used."""
    with pytest.raises(ConfigError) as caught:
        make_config(GOOD_YAML, EPM_USER="svc")
    assert caught.value.problems == [
        "epm.servers.planning.auth.password: environment variable EPM_PASSWORD is not set"
    ]


def test_it_rejects_duplicate_names_ignoring_case(make_config: MakeConfig) -> None:
    """Domain names must be unique case-insensitively."""
    with pytest.raises(ConfigError, match="appears twice"):
        make_config("apps:\n  Planning: {domains: [Actuals, ACTUALS]}\n")


def test_it_rejects_malformed_api_keys_and_tokens(make_config: MakeConfig) -> None:
    """API keys must be name:key pairs and Slack tokens have their prefixes."""
    with pytest.raises(ConfigError) as caught:
        make_config(
            EPMPULSE_API_KEYS="justakey,ci:x",
            SLACK_BOT_TOKEN="xapp-wrong",
            SLACK_APP_TOKEN="xoxb-wrong",
        )
    text = str(caught.value)
    assert "EPMPULSE_API_KEYS: entry 1 is not 'name:key'" in text
    assert "SLACK_BOT_TOKEN" in text and "SLACK_APP_TOKEN" in text
    assert "xapp-wrong" not in text and "xoxb-wrong" not in text


def test_it_reports_unreadable_and_invalid_yaml(make_config: MakeConfig) -> None:
    """A YAML syntax error is a config problem, not a crash."""
    with pytest.raises(ConfigError, match="not valid YAML"):
        make_config("apps: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read"):
        make_config(EPMPULSE_CONFIG="/nonexistent/epmpulse.yml")


def test_it_resolves_names_case_insensitively(make_config: MakeConfig) -> None:
    """Apps and domains resolve to canonical names; unknown ones name the choices."""
    estate = make_config().estate
    assert estate.resolve_domain("planning", "ACTUALS") == ("Planning", "Actuals")
    with pytest.raises(UnknownNameError) as caught:
        estate.resolve_domain("Planning", "Actual")
    assert str(caught.value) == (
        "Unknown domain 'Actual' for Planning. Valid: Actuals, Forecast, Budget. "
        "Did you mean Actuals?"
    )
    assert caught.value.code == "INVALID_DOMAIN"
    with pytest.raises(UnknownNameError) as app_error:
        estate.resolve_app("FCC")
    assert app_error.value.code == "INVALID_APP"
    assert app_error.value.suggestion == "FCCS"


def test_run_requirements_are_listed_with_every_other_problem(make_config: MakeConfig) -> None:
    """With require_run, missing Slack settings join the other problems in one error."""
    with pytest.raises(ConfigError) as caught:
        make_config(None, EPMPULSE_HTTP_PORT="x", require_run=True)
    text = str(caught.value)
    assert len(caught.value.problems) == 4
    assert "SLACK_BOT_TOKEN is required" in text
    assert "SLACK_APP_TOKEN is required" in text
    assert "SLACK_CANVAS_ID or SLACK_CHANNEL_ID is required" in text


def test_a_bad_server_reference_is_reported_with_field_errors(make_config: MakeConfig) -> None:
    """An app naming an unknown server is reported even when other fields are wrong too."""
    with pytest.raises(ConfigError) as caught:
        make_config(
            "apps:\n  Planning: {domains: [Actuals], server: nope}\ncanvas: {timezone: Nowhere/X}\n"
        )
    text = str(caught.value)
    assert "apps.Planning.server 'nope' is not a configured EPM server" in text
    assert "unknown timezone 'Nowhere/X'" in text


def test_port_falls_back_to_the_platform_port(make_config: MakeConfig) -> None:
    """PORT is used when EPMPULSE_HTTP_PORT is not set; EPMPULSE_HTTP_PORT wins."""
    assert make_config(PORT="5000").settings.http_port == 5000
    assert make_config(PORT="5000", EPMPULSE_HTTP_PORT="6000").settings.http_port == 6000


def test_every_configured_secret_is_listed_for_masking(make_config: MakeConfig) -> None:
    """Slack tokens, API keys and EPM credentials are all handed to the log filter."""
    config = make_config(
        GOOD_YAML,
        EPM_USER="svc",
        EPM_PASSWORD="epm-pass-123",
        SLACK_BOT_TOKEN="xoxb-bot-1",
        EPMPULSE_API_KEYS="ci:key-abc",
    )
    assert set(config.secret_values()) == {"epm-pass-123", "xoxb-bot-1", "key-abc"}
