"""Deployment settings and secrets from the environment (SPEC §3), read by pydantic-settings.

Each field names its environment variable (``validation_alias``), so the names live in
one place: :func:`env_var_names` lists them for the docs check. :func:`read_settings`
reads an explicit mapping (tests pass dicts) or ``os.environ``; values are stripped and
a blank value counts as unset. Problems are raised as one ``pydantic.ValidationError``
whose locations are the variable names; :mod:`bot.config` lists them with the estate's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_SLACK_API_URL = "https://slack.com/api/"

# Slack member ids start with U (W on Enterprise Grid); user group ids with S.
_EDITOR_ID = re.compile(r"^[UWS][A-Z0-9]+$")
# Channel ids start with C (G for private channels created before 2021).
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]+$")
FIND_CHANNEL_ID = (
    "in Slack, open the channel, click its name at the top: the Channel ID (C…) is at "
    "the bottom of the About tab"
)


class Settings(BaseSettings):
    """Deployment settings and secrets from the environment (SPEC §3)."""

    # validate_default=False as for any model: the defaults are valid, and checking the
    # rate limits would import `limits` on every start.
    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, case_sensitive=True, validate_default=False
    )

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(
        default=DEFAULT_SLACK_API_URL, pattern=r"^https?://", validation_alias="SLACK_API_URL"
    )
    slack_canvas_id: str | None = Field(default=None, validation_alias="SLACK_CANVAS_ID")
    slack_channel_id: str | None = Field(default=None, validation_alias="SLACK_CHANNEL_ID")
    config_path: Path | None = Field(default=None, validation_alias="EPMPULSE_CONFIG")
    data_dir: Path = Field(default=Path("data"), validation_alias="EPMPULSE_DATA_DIR")
    api_keys: Annotated[dict[str, SecretStr], NoDecode] = Field(
        default_factory=dict, validation_alias="EPMPULSE_API_KEYS"
    )
    editors: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="EPMPULSE_EDITORS"
    )
    http_host: str = Field(default="127.0.0.1", validation_alias="EPMPULSE_HTTP_HOST")
    # Platforms that assign the port set PORT; EPMPULSE_HTTP_PORT wins when both are set.
    http_port: int = Field(
        default=8080, ge=0, le=65535, validation_alias=AliasChoices("EPMPULSE_HTTP_PORT", "PORT")
    )
    # e.g. "status=60/minute,batch=20/minute"; parsed by bot.api
    rate_limits: str = Field(default="", validation_alias="EPMPULSE_RATE_LIMITS")
    # a `limits` storage URI, e.g. redis://host:6379
    rate_limit_storage: str = Field(
        default="memory://", validation_alias="EPMPULSE_RATE_LIMIT_STORAGE"
    )
    canvas_debounce_seconds: float = Field(
        default=3.0, gt=0, le=3600, validation_alias="EPMPULSE_CANVAS_DEBOUNCE_SECONDS"
    )
    poll_interval_seconds: float | None = Field(
        default=None, gt=0, validation_alias="EPMPULSE_POLL_INTERVAL_SECONDS"
    )
    # PostgreSQL (SPEC §10); None: the JSON store
    database_url: SecretStr | None = Field(default=None, validation_alias="EPMPULSE_DATABASE_URL")
    leader_timeout_seconds: float = Field(
        default=10.0, ge=1, le=3600, validation_alias="EPMPULSE_LEADER_TIMEOUT_SECONDS"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", validation_alias="EPMPULSE_LOG_LEVEL"
    )
    log_format: Literal["json", "text"] = Field(
        default="json", validation_alias="EPMPULSE_LOG_FORMAT"
    )
    # Outbound proxies (SPEC §16, bot.proxy). The lower-case form wins, as in curl and
    # requests; a proxy URL may hold a password, hence SecretStr.
    https_proxy: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("https_proxy", "HTTPS_PROXY")
    )
    http_proxy: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("http_proxy", "HTTP_PROXY")
    )
    no_proxy: str | None = Field(
        default=None, validation_alias=AliasChoices("no_proxy", "NO_PROXY")
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: :func:`read_settings` reads them from its mapping."""
        return (init_settings,)

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with 'xoxb-'")
        return token

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with 'xapp-'")
        return token

    @field_validator("slack_channel_id")
    @classmethod
    def _channel_id_shape(cls, channel_id: str | None) -> str | None:
        # A name such as #general is the usual mistake, and Slack refuses it.
        if channel_id and not CHANNEL_ID.match(channel_id):
            raise ValueError(
                f"'{channel_id}' is not a channel id; Slack needs the id, not the name: "
                f"{FIND_CHANNEL_ID}"
            )
        return channel_id

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not url.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("must be a PostgreSQL URI starting with 'postgresql://'")
        return url

    @field_validator("https_proxy", "http_proxy")
    @classmethod
    def _proxy_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is None:
            return None
        value = url.get_secret_value()
        if "://" not in value:
            value = "http://" + value  # host:port, as curl and requests accept it
        if not value.startswith(("http://", "https://")) or not urlsplit(value).hostname:
            raise ValueError("must be a proxy URL such as http://proxy.example.com:3128")
        return SecretStr(value)

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, url: str) -> str:
        return url if url.endswith("/") else url + "/"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_api_keys(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        keys: dict[str, str] = {}
        problems: list[str] = []
        for n, pair in enumerate(p.strip() for p in value.split(",")):
            if not pair:
                continue
            name, sep, key = pair.partition(":")
            if not sep or not name.strip() or not key.strip():
                problems.append(f"entry {n + 1} is not 'name:key'")
            elif name.strip() in keys:
                problems.append(f"name '{name.strip()}' appears twice")
            else:
                keys[name.strip()] = key.strip()
        if problems:
            raise ValueError("\n".join(problems))
        return keys

    @field_validator("editors", mode="before")
    @classmethod
    def _split_editors(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        return tuple(e for e in re.split(r"[,\s]+", value) if e)

    @field_validator("editors")
    @classmethod
    def _editor_ids(cls, editors: tuple[str, ...]) -> tuple[str, ...]:
        problems = [
            f"'{entry}' is not a Slack user id (U…, W…) or user group id (S…); "
            "copy a member's id from their profile (⋮ → Copy member ID)"
            for entry in editors
            if not _EDITOR_ID.match(entry)
        ]
        if problems:
            raise ValueError("\n".join(problems))
        return editors

    @field_validator("rate_limits")
    @classmethod
    def _rate_limits(cls, text: str) -> str:
        # Imported only when set: the `limits` library is not needed to read the defaults.
        from bot.ratelimit_settings import RateLimits

        RateLimits.parse(text)
        return text

    @field_validator("rate_limit_storage")
    @classmethod
    def _rate_limit_storage(cls, uri: str) -> str:
        from bot.ratelimit_settings import open_storage

        open_storage(uri)
        return uri


class _MappingSource(EnvSettingsSource):
    """The environment variables of one mapping: stripped, and a blank one is unset."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name: value.strip() for name, value in self._mapping.items() if value.strip()}


def read_settings(env: Mapping[str, str]) -> Settings:
    """The settings in ``env``; raises pydantic's ValidationError located by variable name."""
    return Settings(**_MappingSource(Settings, env)())


def env_value(env: Mapping[str, str], field: str) -> str | None:
    """``field``'s value in ``env`` (stripped; its preferred name first), None when blank."""
    values = (env.get(name, "").strip() for name in field_env_vars(field))
    return next((value for value in values if value), None)


def field_env_vars(field: str) -> list[str]:
    """The environment variable names of one settings field, the preferred one first."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [str(alias)]


def env_var_names() -> list[str]:
    """Every environment variable the settings read, in field order (SPEC §3)."""
    return [name for field in Settings.model_fields for name in field_env_vars(field)]
