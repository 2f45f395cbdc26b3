"""Configuration read one way: the settings from the environment, the estate from YAML.

:func:`load_config` reads both and collects every problem found into one
:class:`ConfigError`. The settings model is :class:`bot.settings.Settings`, the estate's
models live in :mod:`bot.estate`. One-shot commands read only the settings they use
(``fields``); ``run`` and ``check`` read and require everything (SPEC §19).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.errors import ConfigError, closest_match
from bot.estate import Estate, job_problems, reference_problems
from bot.settings import Settings, env_value, read_settings

DEFAULT_CONFIG_FILE = "epmpulse.yml"
DEFAULT_DATA_DIR = "data"
# ${VAR} in the YAML file is replaced from the environment.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Config(BaseModel):
    """Everything EPMPulse is configured with."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    settings: Settings
    estate: Estate

    def secret_values(self) -> list[str]:
        """Every secret configured (tokens, API keys, EPM credentials), to mask in logs."""
        settings = self.settings
        found = [settings.slack_bot_token, settings.slack_app_token, *settings.api_keys.values()]
        for server in self.estate.epm.servers.values():
            auth = server.auth
            for name in ("password", "client_secret", "refresh_token"):
                found.append(getattr(auth, name, None))
        values = [s.get_secret_value() for s in found if s is not None]
        url = settings.database_url
        return values + database_secrets(None if url is None else url.get_secret_value())

    @property
    def poll_interval_seconds(self) -> float:
        """The EPM poll period: environment first, then YAML, then 30 s."""
        return self.settings.poll_interval_seconds or self.estate.epm.poll_interval_seconds or 30.0


def load_config(
    env: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
    require_run: bool = False,
    fields: Iterable[str] | None = None,
) -> Config:
    """Read settings from ``env`` (default ``os.environ``) and the YAML estate file.

    With ``require_run`` the settings ``epmpulse run`` cannot do without are required
    too; with ``fields`` only those settings are read (the one-shot commands'), the
    others keep their defaults. Raises ConfigError listing every problem found.
    """
    env = os.environ if env is None else env
    problems = _run_problems(env) if require_run else []
    settings: Settings | None = None
    try:
        settings = read_settings(env, fields)
    except ValidationError as exc:
        problems.extend(_describe(exc))

    # Holiday countries already looked up are not looked up again (bot.close.holiday_cache).
    data_dir = settings.data_dir if settings is not None else Path(DEFAULT_DATA_DIR)
    estate = _load_estate(env, cwd or Path.cwd(), problems, {"holiday_cache": data_dir})
    if problems or settings is None or estate is None:
        raise ConfigError(problems)
    # Both parts are validated already; the pair needs no second validation.
    return Config.model_construct(settings=settings, estate=estate)


def _run_problems(env: Mapping[str, str]) -> list[str]:
    problems = []
    if not env_value(env, "slack_bot_token"):
        problems.append("SLACK_BOT_TOKEN is required (a bot token, xoxb-…)")
    if not env_value(env, "slack_app_token"):
        problems.append("SLACK_APP_TOKEN is required (an app-level token, xapp-…, for socket mode)")
    if not env_value(env, "slack_canvas_id") and not env_value(env, "slack_channel_id"):
        problems.append("SLACK_CANVAS_ID or SLACK_CHANNEL_ID is required (where the board lives)")
    return problems


def estate_file(env: Mapping[str, str], cwd: Path) -> Path | None:
    """The YAML file to read: ``EPMPULSE_CONFIG``, else ``./epmpulse.yml`` when it exists
    (None: the built-in estate)."""
    given = env_value(env, "config_path")
    if given:
        return Path(given)
    default = cwd / DEFAULT_CONFIG_FILE
    return default if default.exists() else None


def database_secrets(url: str | None) -> list[str]:
    """The password inside a database URL, and the URL itself, to mask in logs."""
    if url is None:
        return []
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        password = conninfo_to_dict(url).get("password")
    except ProgrammingError:  # unparsable: the store says so; mask the whole URL
        return [url]
    return [url, str(password)] if password else []


def _load_estate(
    env: Mapping[str, str], cwd: Path, problems: list[str], context: dict[str, Any]
) -> Estate | None:
    path = estate_file(env, cwd)
    if path is None:
        return Estate()
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(f"EPMPULSE_CONFIG: cannot read {path}: {exc.strerror}")
        return None
    except yaml.YAMLError as exc:
        problems.append(f"{path}: not valid YAML: {exc}")
        return None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        problems.append(f"{path}: the top level must be a mapping")
        return None
    document = _interpolate(document, env, "", problems)
    try:
        return Estate.model_validate(document, context=context)
    except ValidationError as exc:
        # Cross-references are checked by the model only once every field is valid, and
        # then only the first; these list every one (and replace the model's copy).
        references = reference_problems(document) + job_problems(document)
        described = _describe(exc, Estate)
        found = [p for p in described if p.removeprefix("(top level): ") not in references]
        problems.extend(f"{path.name}: {p}" for p in [*found, *references])
        return None


def _interpolate(node: Any, env: Mapping[str, str], where: str, problems: list[str]) -> Any:
    if isinstance(node, dict):
        return {
            k: _interpolate(v, env, f"{where}.{k}".lstrip("."), problems) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_interpolate(v, env, f"{where}[{i}]", problems) for i, v in enumerate(node)]
    if isinstance(node, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                problems.append(f"{where}: environment variable {name} is not set")
                return match.group(0)  # keep it, so no second problem is reported for it
            return env[name]

        return ENV_REFERENCE.sub(replace, node)
    return node


def _describe(exc: ValidationError, root: type[BaseModel] | None = None) -> list[str]:
    """One line per error, located; an unknown key of ``root``'s YAML names the valid ones."""
    found: list[str] = []
    for error in exc.errors():
        parts = [str(p) for p in error["loc"] if not str(p).startswith("function-")]
        # Discriminated unions add the tag ('basic', …) to the path; keep it readable.
        location = ".".join(parts) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
            known = _known_keys(root, parts[:-1]) if root is not None and parts else []
            if known:
                hint = closest_match(parts[-1], known)
                message += f"; valid: {', '.join(known)}" + (
                    f" (did you mean {hint}?)" if hint else ""
                )
        # A model-level check may report several problems, one per line, each naming
        # its own place.
        where = f"{location}: " if parts else ""
        found.extend(f"{where}{line}" for line in message.split("\n"))
    return found


def _known_keys(root: type[BaseModel], path: list[str]) -> list[str]:
    """The keys the model at ``path`` (below ``root``) takes; [] when it is not a model."""
    node: Any = root
    for part in path:
        node = _inner(node, part)
    return list(node.model_fields) if isinstance(node, type) and issubclass(node, BaseModel) else []


def _inner(node: Any, part: str) -> Any:
    """What sits at ``part`` inside ``node``: a model's field, a mapping's value, a list's item,
    the member of a discriminated union whose tag is ``part``."""
    if isinstance(node, type) and issubclass(node, BaseModel):
        field = node.model_fields.get(part)
        return _unwrap(field.annotation) if field is not None else None
    origin, args = get_origin(node), get_args(node)
    if origin is dict and len(args) == 2:
        return _unwrap(args[1])
    if origin is list and args:
        return _unwrap(args[0])
    for member in args:  # a union: the member tagged `part` (auth: {type: basic, …})
        fields = getattr(member, "model_fields", {})
        tag = fields.get("type")
        if tag is not None and part in get_args(tag.annotation):
            return member
    return None


def _unwrap(annotation: Any) -> Any:
    """``annotation`` without Annotated and without ``| None``."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    args = get_args(annotation)
    members = [a for a in args if a is not type(None)]
    if len(args) == 2 and len(members) == 1:  # X | None
        return _unwrap(members[0])
    return annotation
