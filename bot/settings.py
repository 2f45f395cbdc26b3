"""Deployment settings and secrets from the environment (SPEC §3): the one list of them.

Each field names its environment variable (``validation_alias``) and says what it means
(``description``), so everything else is derived from here: :func:`env_var_names`, the
CLI help (:func:`settings_help`) and ``docs/settings.md`` (:func:`settings_table`).
:func:`read_settings` reads an explicit mapping (tests pass dicts) or ``os.environ``;
values are stripped and a blank value counts as unset. Problems are raised as one
``pydantic.ValidationError`` whose locations are the variable names; :mod:`bot.config`
lists them with the estate's.

A plain pydantic model, not pydantic-settings: the mapping is filtered to the declared
names here, and importing pydantic-settings alone costs four times the interpreter's
start-up, more than a one-shot command may take (SPEC §19, bench/cli.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

DEFAULT_SLACK_API_URL = "https://slack.com/api/"

# Slack member ids start with U (W on Enterprise Grid); user group ids with S.
_EDITOR_ID = re.compile(r"^[UWS][A-Z0-9]+$")
# Channel ids start with C (G for private channels created before 2021).
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]+$")
_TOKEN_SHAPES = {
    "slack_bot_token": ("xoxb-", "a bot token"),
    "slack_app_token": ("xapp-", "an app-level token"),
}
FIND_CHANNEL_ID = (
    "in Slack, open the channel, click its name at the top: the Channel ID (C…) is at "
    "the bottom of the About tab"
)


class Settings(BaseModel):
    """Deployment settings and secrets from the environment (SPEC §3)."""

    # validate_default=False as for any model: the defaults are valid, and checking the
    # rate limits would import `limits` on every start.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=False)

    slack_bot_token: SecretStr | None = Field(
        default=None,
        validation_alias="SLACK_BOT_TOKEN",
        description="bot token, must start `xoxb-` (required by `run`)",
    )
    slack_app_token: SecretStr | None = Field(
        default=None,
        validation_alias="SLACK_APP_TOKEN",
        description="app-level token for Socket Mode, must start `xapp-` (required by `run`)",
    )
    slack_api_url: str = Field(
        default=DEFAULT_SLACK_API_URL,
        pattern=r"^https?://",
        validation_alias="SLACK_API_URL",
        description="base URL of the Slack Web API (`http://` or `https://`)",
    )
    slack_canvas_id: str | None = Field(
        default=None,
        validation_alias="SLACK_CANVAS_ID",
        description="canvas to maintain (`F…`); `run` needs it or `SLACK_CHANNEL_ID`",
    )
    slack_channel_id: str | None = Field(
        default=None,
        validation_alias="SLACK_CHANNEL_ID",
        description=(
            "channel id (`C…`/`G…`, not a name such as `#general`) whose canvas is created "
            "and kept when no canvas id is given; also the alert channel"
        ),
    )
    config_path: Path | None = Field(
        default=None,
        validation_alias="EPMPULSE_CONFIG",
        description="the estate YAML file; unset: `./epmpulse.yml` if present, else built-in",
    )
    data_dir: Path = Field(
        default=Path("data"),
        validation_alias="EPMPULSE_DATA_DIR",
        description="state, history, backups and rotated EPM tokens",
    )
    api_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        validation_alias="EPMPULSE_API_KEYS",
        description=(
            "`name:key,name2:key2` (names unique) for the REST API; none: keyed routes answer 401"
        ),
    )
    editors: tuple[str, ...] = Field(
        default=(),
        validation_alias="EPMPULSE_EDITORS",
        description=(
            "Slack user (`U…`, `W…`) and user group (`S…`) ids, comma or space separated, "
            "who may change statuses; anything else is a configuration error; none: everyone"
        ),
    )
    http_host: str = Field(
        default="127.0.0.1", validation_alias="EPMPULSE_HTTP_HOST", description="REST API bind"
    )
    http_port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        validation_alias=AliasChoices("EPMPULSE_HTTP_PORT", "PORT"),
        description="REST API port; platforms that assign one set `PORT`, "
        "`EPMPULSE_HTTP_PORT` wins when both are set",
    )
    rate_limits: str = Field(  # parsed by bot.ratelimit_settings
        default="",
        validation_alias="EPMPULSE_RATE_LIMITS",
        description=(
            "`GROUP=LIMIT` pairs for the REST API per key, groups `status`, `batch`, `read`, "
            "limits like `120/minute`; a group not named keeps its default "
            "(`status=60/minute,batch=20/minute,read=100/minute`)"
        ),
    )
    rate_limit_storage: str = Field(
        default="memory://",
        validation_alias="EPMPULSE_RATE_LIMIT_STORAGE",
        description=(
            "a synchronous `limits` storage URI (`memory://`, `redis://host:6379`, …); "
            "`redis://` shares the windows between instances"
        ),
    )
    canvas_debounce_seconds: float = Field(
        default=3.0,
        gt=0,
        le=3600,
        validation_alias="EPMPULSE_CANVAS_DEBOUNCE_SECONDS",
        description="canvas flush period in seconds (> 0, ≤ 3600; flushes stay ≥ 1.2 s apart)",
    )
    poll_interval_seconds: float | None = Field(
        default=None,
        gt=0,
        validation_alias="EPMPULSE_POLL_INTERVAL_SECONDS",
        description=(
            "EPM poll period in seconds (> 0), overrides the YAML; unset: "
            "`epm.poll_interval_seconds`, else 30"
        ),
    )
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias="EPMPULSE_DATABASE_URL",
        description="PostgreSQL URI (`postgresql://…` or `postgres://…`): store everything "
        "there and allow several instances; the password is masked in logs; unset: the JSON "
        "store in the data directory",
    )
    leader_timeout_seconds: float = Field(
        default=10.0,
        ge=1,
        le=3600,
        validation_alias="EPMPULSE_LEADER_TIMEOUT_SECONDS",
        description=(
            "with a database: how soon (in seconds, 1 to 3600) another instance takes over "
            "from a leader that died"
        ),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO",
        validation_alias="EPMPULSE_LOG_LEVEL",
        description="`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL` (any case); one-shot "
        "commands: `WARNING` unless set",
    )
    log_format: Literal["json", "text"] = Field(
        default="json", validation_alias="EPMPULSE_LOG_FORMAT", description="`json` or `text`"
    )
    # The lower-case proxy variables win, as in curl and requests; a proxy URL may hold a
    # password, hence SecretStr.
    https_proxy: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("https_proxy", "HTTPS_PROXY"),
        description=(
            "proxy URL (`http://[user:password@]host:port`; a bare `host:port` means "
            "`http://`) for `https://` EPM servers, an `https://` `SLACK_API_URL` and Socket "
            "Mode; the lower-case form wins"
        ),
    )
    http_proxy: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("http_proxy", "HTTP_PROXY"),
        description="the same for `http://` URLs",
    )
    no_proxy: str | None = Field(
        default=None,
        validation_alias=AliasChoices("no_proxy", "NO_PROXY"),
        description=(
            "comma-separated hosts reached directly: a name (also its subdomains; a leading "
            "dot is allowed), an IP or CIDR range, optionally `:port`; `*` for all; "
            "`SLACK_API_URL`'s host decides for Socket Mode too"
        ),
    )

    @field_validator("slack_bot_token", "slack_app_token")
    @classmethod
    def _token_shape(cls, token: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        prefix, kind = _TOKEN_SHAPES[str(info.field_name)]
        if token is not None and not token.get_secret_value().startswith(prefix):
            raise ValueError(f"must be {kind} starting with '{prefix}'")
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


def read_settings(env: Mapping[str, str], fields: Iterable[str] | None = None) -> Settings:
    """The settings in ``env``; raises pydantic's ValidationError located by variable name.

    ``fields``: read (and validate) only these; the others keep their defaults. A field
    read under several names takes the first one set (EPMPULSE_HTTP_PORT before PORT),
    and a problem is located at its preferred name.
    """
    given: dict[str, str] = {}
    for field in Settings.model_fields if fields is None else fields:
        value = env_value(env, field)
        if value is not None:
            given[field_env_vars(field)[0]] = value
    return Settings.model_validate(given)


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


def env_var_names(fields: Iterable[str] | None = None) -> list[str]:
    """Every environment variable the settings (or those ``fields``) read, in field order."""
    wanted = Settings.model_fields if fields is None else fields
    return [name for field in wanted for name in field_env_vars(field)]


# What the one-shot commands read (SPEC §19); the Slack and REST settings are left to
# `run` and `check`.
ONE_SHOT_FIELDS = ("config_path", "data_dir", "database_url", "log_level", "log_format")


def _default_text(field: str) -> str:
    """A field's default as the table shows it ("—" when there is none)."""
    info = Settings.model_fields[field]
    default = info.get_default(call_default_factory=True)
    if default in (None, "", (), {}):
        return "—"
    return f"`{default:g}`" if isinstance(default, float) else f"`{default}`"


def settings_table() -> str:
    """The Markdown table of every setting (variable, default, meaning): docs/settings.md."""
    lines = [
        "# Settings",
        "",
        "Read from the environment. This page is generated from `bot/settings.py`:",
        "`python -m bot.settings > docs/settings.md` writes it again. The one-shot commands",
        "(`status`, `set`, `history`, `export`, `render`, `close`, `report`) read only the",
        "settings marked *one-shot*; `run` and `check` read and validate every one.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for field, info in Settings.model_fields.items():
        names = " / ".join(f"`{name}`" for name in field_env_vars(field))
        meaning = str(info.description) + (" (*one-shot*)" if field in ONE_SHOT_FIELDS else "")
        lines.append(f"| {names} | {_default_text(field)} | {meaning} |")
    return "\n".join(lines) + "\n"


def settings_help() -> str:
    """The CLI help's list of settings: one line per variable, with its default."""
    lines = ["settings read (environment; docs/settings.md):"]
    for field, info in Settings.model_fields.items():
        default = _default_text(field).strip("`")
        meaning = str(info.description).replace("`", "")
        suffix = "" if default == "—" else f" (default {default})"
        lines.append(f"  {', '.join(field_env_vars(field))}: {meaning}{suffix}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_table(), end="")
