"""The settings of several instances: EPMPULSE_DATABASE_URL and the leader timeout."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from tests.conftest import MakeConfig


def test_without_a_database_url_the_json_store_and_a_10_second_timeout_are_used(
    make_config: MakeConfig,
) -> None:
    """The defaults: no database (JSON store), leader timeout 10 s."""
    settings = make_config().settings
    assert settings.database_url is None
    assert settings.leader_timeout_seconds == 10.0


def test_a_database_url_and_timeout_are_read_and_the_password_is_masked(
    make_config: MakeConfig,
) -> None:
    """The URL is a secret: its password is among the values masked in logs."""
    config = make_config(
        EPMPULSE_DATABASE_URL="postgresql://epm:pw-123@db:5432/epmpulse",
        EPMPULSE_LEADER_TIMEOUT_SECONDS="4.5",
    )
    assert config.settings.leader_timeout_seconds == 4.5
    assert "pw-123" in config.secret_values()
    assert "pw-123" not in repr(config.settings)


def test_a_bad_database_url_and_timeout_are_both_reported_at_once(
    make_config: MakeConfig,
) -> None:
    """A non-PostgreSQL URL and a timeout below 1 s are listed in one error."""
    with pytest.raises(ConfigError) as caught:
        make_config(
            EPMPULSE_DATABASE_URL="mysql://db/epmpulse",
            EPMPULSE_LEADER_TIMEOUT_SECONDS="0.1",
        )
    problems = "\n".join(caught.value.problems)
    assert "EPMPULSE_DATABASE_URL: must be a PostgreSQL URI" in problems
    assert "EPMPULSE_LEADER_TIMEOUT_SECONDS" in problems
