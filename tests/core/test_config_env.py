"""How settings are read: the mapping given (else os.environ), exact names, blanks unset."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import load_config
from bot.errors import ConfigError
from bot.estate import AppConfig, Estate
from bot.settings import Settings, env_var_names, field_env_vars
from tests.conftest import MakeConfig


def test_an_explicit_mapping_is_read_and_the_process_environment_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad values in os.environ do not leak into load_config(mapping)."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "not-a-token")
    monkeypatch.setenv("EPMPULSE_HTTP_PORT", "eighty")
    monkeypatch.setenv("EPMPULSE_LOG_LEVEL", "DEBUG")
    config = load_config({"EPMPULSE_DATA_DIR": str(tmp_path / "d")}, cwd=tmp_path)
    assert config.settings.slack_bot_token is None
    assert config.settings.http_port == 8080
    assert config.settings.log_level == "INFO"
    assert "log_level" not in config.settings.model_fields_set


def test_without_a_mapping_the_process_environment_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_config() reads os.environ, problems named by variable."""
    for name in env_var_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("PORT", "7070")
    assert load_config(cwd=tmp_path).settings.http_port == 7070
    monkeypatch.setenv("EPMPULSE_CANVAS_DEBOUNCE_SECONDS", "soon")
    with pytest.raises(ConfigError) as caught:
        load_config(cwd=tmp_path)
    assert [p.split(":")[0] for p in caught.value.problems] == ["EPMPULSE_CANVAS_DEBOUNCE_SECONDS"]


def test_values_are_stripped_and_blank_ones_count_as_unset(make_config: MakeConfig) -> None:
    """A blank EPMPULSE_HTTP_PORT falls back to PORT; surrounding spaces are dropped."""
    settings = make_config(
        EPMPULSE_HTTP_PORT="   ", PORT=" 5000 ", SLACK_CANVAS_ID="", EPMPULSE_LOG_FORMAT=" TEXT "
    ).settings
    assert settings.http_port == 5000
    assert settings.slack_canvas_id is None
    assert settings.log_format == "text"
    assert "slack_canvas_id" not in settings.model_fields_set


def test_variable_names_are_case_sensitive(make_config: MakeConfig) -> None:
    """A lower-case spelling of a variable is not that variable."""
    settings = make_config(epmpulse_http_port="9999", slack_bot_token="oops").settings
    assert settings.http_port == 8080
    assert settings.slack_bot_token is None


def test_a_bad_platform_port_is_reported_under_the_port_setting(make_config: MakeConfig) -> None:
    """PORT=abc is one problem, located at EPMPULSE_HTTP_PORT (its preferred name)."""
    with pytest.raises(ConfigError) as caught:
        make_config(PORT="abc")
    [problem] = caught.value.problems
    assert problem.startswith("EPMPULSE_HTTP_PORT: Input should be a valid integer")


def test_each_bad_api_key_entry_is_its_own_problem(make_config: MakeConfig) -> None:
    """A malformed entry and a repeated name are two problems; no key text is shown."""
    with pytest.raises(ConfigError) as caught:
        make_config(EPMPULSE_API_KEYS="broken, ci:k-one1, ci:k-two2")
    assert caught.value.problems == [
        "EPMPULSE_API_KEYS: entry 1 is not 'name:key'",
        "EPMPULSE_API_KEYS: name 'ci' appears twice",
    ]
    assert "k-one1" not in str(caught.value) and "k-two2" not in str(caught.value)


def test_every_settings_field_names_its_environment_variables() -> None:
    """The variable names live on the fields; PORT is the fallback of the port setting."""
    assert field_env_vars("http_port") == ["EPMPULSE_HTTP_PORT", "PORT"]
    assert field_env_vars("database_url") == ["EPMPULSE_DATABASE_URL"]
    names = env_var_names()
    # Second names: PORT, and the lower-case proxy variables curl reads (SPEC §16).
    lower = {"https_proxy", "http_proxy", "no_proxy"}
    assert field_env_vars("no_proxy") == ["no_proxy", "NO_PROXY"]
    assert len(names) == len(set(names)) == len(Settings.model_fields) + 1 + len(lower)
    assert all(n.isupper() or n in lower for n in names)


def test_the_estate_model_lists_every_bad_server_reference() -> None:
    """Built directly, an estate with two unknown servers names both, once each."""
    with pytest.raises(ValidationError) as caught:
        Estate(
            apps={
                "Planning": AppConfig(domains=["Actuals"], server="nowhere"),
                "FCCS": AppConfig(domains=["Actuals"], server="elsewhere"),
            }
        )
    text = str(caught.value)
    assert text.count("is not a configured EPM server") == 2
    assert "apps.Planning.server 'nowhere'" in text and "apps.FCCS.server 'elsewhere'" in text
