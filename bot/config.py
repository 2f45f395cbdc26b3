"""Typed configuration: deployment settings from the environment, the estate from YAML.

Everything is read once, at start-up, by :func:`load_config`. Every problem found in
the environment and the YAML file is collected into one :class:`ConfigError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.close.config import CloseSection, close_reference_problems
from bot.errors import ConfigError, UnknownNameError, closest_match

DEFAULT_CONFIG_FILE = "epmpulse.yml"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BasicAuth(_Strict):
    """HTTP Basic authentication against an EPM server."""

    type: Literal["basic"]
    username: str = Field(min_length=1)
    password: SecretStr


class RefreshTokenAuth(_Strict):
    """OAuth 2 refresh-token grant; the refresh token rotates on every use."""

    type: Literal["oauth_refresh_token"]
    token_url: str = Field(pattern=r"^https?://")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    refresh_token: SecretStr
    scope: str | None = None


class ClientCredentialsAuth(_Strict):
    """OAuth 2 client-credentials grant."""

    type: Literal["oauth_client_credentials"]
    token_url: str = Field(pattern=r"^https?://")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    scope: str | None = None


EpmAuth = Annotated[
    BasicAuth | RefreshTokenAuth | ClientCredentialsAuth, Field(discriminator="type")
]
ServerKind = Literal["planning", "fccs", "arcs", "data_integration"]


class EpmServer(_Strict):
    """One EPM Cloud service the poller talks to."""

    kind: ServerKind
    base_url: str = Field(pattern=r"^https?://")
    application: str | None = None
    auth: EpmAuth
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    @model_validator(mode="after")
    def _application_for_planning(self) -> EpmServer:
        if self.kind in ("planning", "fccs") and not self.application:
            raise ValueError(f"'application' is required for kind {self.kind}")
        return self


JobParameter = str | int | float | bool


class JobSpec(_Strict):
    """The EPM job that produces a domain (SPEC §13); ``$PERIOD`` in a value is the close period."""

    type: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_]+$")
    name: str = Field(min_length=1, max_length=200)
    parameters: dict[str, JobParameter] = Field(default_factory=dict)


class AppConfig(_Strict):
    """An EPM application on the board and the domains it reports."""

    domains: list[str] = Field(min_length=1)
    server: str | None = None
    jobs: dict[str, JobSpec] = Field(default_factory=dict)

    @field_validator("domains")
    @classmethod
    def _unique_domains(cls, domains: list[str]) -> list[str]:
        _check_names(domains, "domain")
        return domains


class EpmSection(_Strict):
    """EPM servers and poller settings."""

    servers: dict[str, EpmServer] = Field(default_factory=dict)
    poll_interval_seconds: float | None = Field(default=None, gt=0)
    max_workers: int = Field(default=8, ge=1, le=64)


class Staleness(_Strict):
    """When a Loading domain with no job in progress becomes Warning."""

    max_loading_minutes: float = Field(default=120, gt=0)


class CanvasSection(_Strict):
    """How the canvas looks."""

    title: str = Field(default="EPM Status", min_length=1, max_length=150)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone '{name}'") from exc
        return name


def _default_apps() -> dict[str, AppConfig]:
    return {
        "Planning": AppConfig(domains=["Actuals", "Forecast", "Budget"]),
        "FCCS": AppConfig(domains=["Actuals", "Consolidation"]),
        "ARCS": AppConfig(domains=["Reconciliation"]),
    }


class Estate(_Strict):
    """The shape of the estate: apps, domains and EPM servers (the YAML file)."""

    apps: dict[str, AppConfig] = Field(default_factory=_default_apps, min_length=1)
    epm: EpmSection = Field(default_factory=EpmSection)
    staleness: Staleness = Field(default_factory=Staleness)
    canvas: CanvasSection = Field(default_factory=CanvasSection)
    close: CloseSection | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Estate:
        _check_names(list(self.apps), "app")
        for name, app in self.apps.items():
            if app.server is not None and app.server not in self.epm.servers:
                known = ", ".join(self.epm.servers) or "(none configured)"
                raise ValueError(
                    f"apps.{name}.server '{app.server}' is not a configured EPM server; "
                    f"valid: {known}"
                )
        problems: list[str] = []
        if self.close is not None:
            close = self.close
            domains = {name: app.domains for name, app in self.apps.items()}
            problems += close_reference_problems(
                domains, close.deadlines, close.depends_on, close.weekend
            )
        if any(app.jobs for app in self.apps.values()):
            problems += _job_problems(self.model_dump(mode="python"))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def resolve_app(self, name: str) -> str:
        """Return the canonical app name for ``name`` (case-insensitive)."""
        for app in self.apps:
            if app.lower() == name.strip().lower():
                return app
        raise UnknownNameError("app", name, list(self.apps), code="INVALID_APP")

    def resolve_domain(self, app: str, name: str) -> tuple[str, str]:
        """Return canonical ``(app, domain)``; raise UnknownNameError naming the choices."""
        canonical_app = self.resolve_app(app)
        domains = self.apps[canonical_app].domains
        for domain in domains:
            if domain.lower() == name.strip().lower():
                return canonical_app, domain
        raise UnknownNameError(
            "domain", name, domains, context=canonical_app, code="INVALID_DOMAIN"
        )

    def resolve_server(self, name: str) -> str:
        """Return the canonical EPM server name for ``name``."""
        for server in self.epm.servers:
            if server.lower() == name.strip().lower():
                return server
        raise UnknownNameError("EPM server", name, list(self.epm.servers))

    def close_timezone(self) -> str:
        """Where working days, deadlines and periods are counted (SPEC §11)."""
        if self.close is not None and self.close.timezone:
            return self.close.timezone
        return self.canvas.timezone

    def domain_keys(self) -> list[tuple[str, str]]:
        """Every ``(app, domain)`` in configuration order."""
        return [(app, d) for app, cfg in self.apps.items() for d in cfg.domains]


class Settings(_Strict):
    """Deployment settings and secrets from the environment (SPEC §3)."""

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = Field(default=DEFAULT_SLACK_API_URL, pattern=r"^https?://")
    slack_canvas_id: str | None = None
    slack_channel_id: str | None = None
    config_path: Path | None = None
    data_dir: Path = Path("data")
    api_keys: dict[str, SecretStr] = Field(default_factory=dict)
    editors: tuple[str, ...] = ()
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    rate_limits: str = ""  # e.g. "status=60/minute,batch=20/minute"; parsed by bot.api
    rate_limit_storage: str = "memory://"  # a `limits` storage URI, e.g. redis://host:6379
    canvas_debounce_seconds: float = Field(default=3.0, gt=0, le=3600)
    poll_interval_seconds: float | None = Field(default=None, gt=0)
    database_url: SecretStr | None = None  # PostgreSQL (SPEC §10); None: the JSON store
    leader_timeout_seconds: float = Field(default=10.0, ge=1, le=3600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "text"] = "json"

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

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not url.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("must be a PostgreSQL URI starting with 'postgresql://'")
        return url

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, url: str) -> str:
        return url if url.endswith("/") else url + "/"


class Config(_Strict):
    """Everything EPMPulse is configured with."""

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
        return values + database_secrets(settings.database_url)

    @property
    def poll_interval_seconds(self) -> float:
        """The EPM poll period: environment first, then YAML, then 30 s."""
        return self.settings.poll_interval_seconds or self.estate.epm.poll_interval_seconds or 30.0


def database_secrets(url: SecretStr | None) -> list[str]:
    """The password inside a database URL, and the URL itself, to mask in logs."""
    if url is None:
        return []
    text = url.get_secret_value()
    _, _, netloc = text.partition("://")
    userinfo, at, _ = netloc.partition("@")
    password = userinfo.partition(":")[2] if at else ""
    return [text, password] if password else []


_ENV_FIELDS = {
    "SLACK_BOT_TOKEN": "slack_bot_token",
    "SLACK_APP_TOKEN": "slack_app_token",
    "SLACK_API_URL": "slack_api_url",
    "SLACK_CANVAS_ID": "slack_canvas_id",
    "SLACK_CHANNEL_ID": "slack_channel_id",
    "EPMPULSE_CONFIG": "config_path",
    "EPMPULSE_DATA_DIR": "data_dir",
    "EPMPULSE_HTTP_HOST": "http_host",
    "EPMPULSE_HTTP_PORT": "http_port",
    "EPMPULSE_RATE_LIMITS": "rate_limits",
    "EPMPULSE_RATE_LIMIT_STORAGE": "rate_limit_storage",
    "EPMPULSE_CANVAS_DEBOUNCE_SECONDS": "canvas_debounce_seconds",
    "EPMPULSE_POLL_INTERVAL_SECONDS": "poll_interval_seconds",
    "EPMPULSE_DATABASE_URL": "database_url",
    "EPMPULSE_LEADER_TIMEOUT_SECONDS": "leader_timeout_seconds",
    "EPMPULSE_LOG_LEVEL": "log_level",
    "EPMPULSE_LOG_FORMAT": "log_format",
}


def load_config(
    env: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
    require_run: bool = False,
) -> Config:
    """Read settings from ``env`` (default ``os.environ``) and the YAML estate file.

    With ``require_run`` the settings ``epmpulse run`` cannot do without are required
    too. Raises ConfigError listing every problem found.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    raw: dict[str, Any] = {}
    for var, field in _ENV_FIELDS.items():
        value = env.get(var, "").strip()
        if value:
            raw[field] = value.upper() if field == "log_level" else value
    if "log_format" in raw:
        raw["log_format"] = raw["log_format"].lower()
    raw["api_keys"] = _parse_api_keys(env.get("EPMPULSE_API_KEYS", ""), problems)
    raw["editors"] = tuple(e for e in re.split(r"[,\s]+", env.get("EPMPULSE_EDITORS", "")) if e)
    if "http_port" not in raw and env.get("PORT", "").strip():
        raw["http_port"] = env["PORT"].strip()  # platforms that assign the port set PORT
    if require_run:
        problems.extend(_run_problems(raw))
    problems.extend(_editor_problems(raw["editors"]))
    problems.extend(_rate_limit_problems(raw))

    settings: Settings | None = None
    try:
        settings = Settings(**raw)
    except ValidationError as exc:
        names = {field: var for var, field in _ENV_FIELDS.items()}
        problems.extend(_describe(exc, rename=names))

    estate = _load_estate(raw.get("config_path"), env, cwd or Path.cwd(), problems)
    if problems or settings is None or estate is None:
        raise ConfigError(problems)
    return Config(settings=settings, estate=estate)


def _run_problems(raw: Mapping[str, Any]) -> list[str]:
    problems = []
    if not raw.get("slack_bot_token"):
        problems.append("SLACK_BOT_TOKEN is required (a bot token, xoxb-…)")
    if not raw.get("slack_app_token"):
        problems.append("SLACK_APP_TOKEN is required (an app-level token, xapp-…, for socket mode)")
    if not raw.get("slack_canvas_id") and not raw.get("slack_channel_id"):
        problems.append("SLACK_CANVAS_ID or SLACK_CHANNEL_ID is required (where the board lives)")
    return problems


def _parse_api_keys(text: str, problems: list[str]) -> dict[str, SecretStr]:
    keys: dict[str, SecretStr] = {}
    for n, pair in enumerate(p.strip() for p in text.split(",")):
        if not pair:
            continue
        name, sep, key = pair.partition(":")
        if not sep or not name.strip() or not key.strip():
            problems.append(f"EPMPULSE_API_KEYS: entry {n + 1} is not 'name:key'")
        elif name.strip() in keys:
            problems.append(f"EPMPULSE_API_KEYS: name '{name.strip()}' appears twice")
        else:
            keys[name.strip()] = SecretStr(key.strip())
    return keys


def _load_estate(
    path_text: str | None, env: Mapping[str, str], cwd: Path, problems: list[str]
) -> Estate | None:
    path = Path(path_text) if path_text else cwd / DEFAULT_CONFIG_FILE
    if not path_text and not path.exists():
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
        return Estate(**document)
    except ValidationError as exc:
        # Cross-references are checked by the model only once every field is valid, and
        # then only the first; these list every one (and replace the model's copy).
        references = _reference_problems(document) + _job_problems(document)
        found = [p for p in _describe(exc) if p.removeprefix("(top level): ") not in references]
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

        return _VAR.sub(replace, node)
    return node


def _reference_problems(document: Mapping[str, Any]) -> list[str]:
    epm = document.get("epm")
    servers = epm.get("servers") if isinstance(epm, dict) else None
    known = list(servers) if isinstance(servers, dict) else []
    apps = document.get("apps")
    problems = []
    for name, app in apps.items() if isinstance(apps, dict) else []:
        server = app.get("server") if isinstance(app, dict) else None
        if isinstance(server, str) and server not in known:
            problems.append(
                f"apps.{name}.server '{server}' is not a configured EPM server; "
                f"valid: {', '.join(known) or '(none configured)'}"
            )
    close = document.get("close")
    if isinstance(close, dict):
        domains = {
            str(name): [str(d) for d in app.get("domains") or []]
            for name, app in (apps.items() if isinstance(apps, dict) else [])
            if isinstance(app, dict) and isinstance(app.get("domains"), list)
        }
        if apps is None:
            domains = {name: app.domains for name, app in _default_apps().items()}
        deadlines, depends_on = close.get("deadlines"), close.get("depends_on")
        problems += close_reference_problems(
            domains,
            deadlines if isinstance(deadlines, dict) else {},
            depends_on if isinstance(depends_on, dict) else {},
            close.get("weekend", ["Saturday", "Sunday"]),
        )
    return problems


def _job_problems(document: Mapping[str, Any]) -> list[str]:
    """Jobs for unknown domains, jobs of apps without a server or on an arcs server."""
    epm = document.get("epm")
    servers = epm.get("servers") if isinstance(epm, Mapping) else None
    servers = servers if isinstance(servers, Mapping) else {}
    apps = document.get("apps")
    problems: list[str] = []
    for name, app in apps.items() if isinstance(apps, Mapping) else []:
        jobs = app.get("jobs") if isinstance(app, Mapping) else None
        if not isinstance(jobs, Mapping) or not jobs:
            continue
        domains = app.get("domains")
        domains = [str(d) for d in domains] if isinstance(domains, list) else []
        for domain in jobs:
            if domain not in domains:
                hint = closest_match(str(domain), domains)
                problems.append(
                    f"apps.{name}.jobs.{domain}: '{domain}' is not a domain of {name}; "
                    f"valid: {', '.join(domains) or '(none)'}"
                    + (f" (did you mean {hint}?)" if hint else "")
                )
        server = app.get("server")
        entry = servers.get(server) if isinstance(server, str) else None
        kind = entry.get("kind") if isinstance(entry, Mapping) else None
        if server is None:
            problems.append(
                f"apps.{name}.jobs: starting jobs needs an EPM server; set apps.{name}.server "
                f"(EPM servers: {', '.join(servers) or 'none configured'})"
            )
        elif kind == "arcs":
            problems.append(
                f"apps.{name}.jobs: EPMPulse cannot start jobs on the arcs server '{server}'; "
                "jobs run on planning, fccs and data_integration servers"
            )
        elif kind == "data_integration":
            for domain, job in jobs.items():
                parameters = job.get("parameters") if isinstance(job, Mapping) else None
                clash = sorted({"jobType", "jobName"} & set(parameters or {}))
                if clash:
                    problems.append(
                        f"apps.{name}.jobs.{domain}.parameters: {', '.join(clash)} is set by "
                        "type and name; remove it from parameters"
                    )
    return problems


def _describe(exc: ValidationError, rename: Mapping[str, str] | None = None) -> list[str]:
    found: list[str] = []
    for error in exc.errors():
        parts = [str(p) for p in error["loc"] if not str(p).startswith("function-")]
        # Discriminated unions add the tag ('basic', …) to the path; keep it readable.
        location = ".".join(parts) or "(top level)"
        if rename and parts and parts[0] in rename:
            location = rename[parts[0]]
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        # A model-level check may report several problems, one per line, each naming
        # its own place.
        where = f"{location}: " if parts else ""
        found.extend(f"{where}{line}" for line in message.split("\n"))
    return found


def _check_names(names: list[str], kind: str) -> None:
    seen: set[str] = set()
    for name in names:
        if not name.strip():
            raise ValueError(f"{kind} names must not be empty")
        if name.lower() in seen:
            raise ValueError(f"{kind} '{name}' appears twice (names are case-insensitive)")
        seen.add(name.lower())


# Slack member ids start with U (W on Enterprise Grid); user group ids with S.
_EDITOR_ID = re.compile(r"^[UWS][A-Z0-9]+$")


def _editor_problems(editors: tuple[str, ...]) -> list[str]:
    return [
        f"EPMPULSE_EDITORS: '{entry}' is not a Slack user id (U…, W…) or user group id (S…); "
        "copy a member's id from their profile (⋮ → Copy member ID)"
        for entry in editors
        if not _EDITOR_ID.match(entry)
    ]


def _rate_limit_problems(raw: Mapping[str, Any]) -> list[str]:
    limits_text, storage_uri = raw.get("rate_limits", ""), raw.get("rate_limit_storage")
    if not limits_text and not storage_uri:
        return []
    # Imported only when set: the `limits` library is not needed to read the defaults.
    from bot.ratelimit_settings import RateLimits, open_storage

    problems = []
    try:
        RateLimits.parse(limits_text)
    except ValueError as exc:
        problems.append(f"EPMPULSE_RATE_LIMITS: {exc}")
    if storage_uri:
        try:
            open_storage(storage_uri)
        except ValueError as exc:
            problems.append(f"EPMPULSE_RATE_LIMIT_STORAGE: {exc}")
    return problems
