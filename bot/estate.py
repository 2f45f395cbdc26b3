"""The estate: apps, domains, EPM servers, jobs, the canvas and the close (the YAML file).

pydantic models, each checking its own values; :class:`Estate` also checks what refers
to what (servers, jobs, deadlines) and lists every problem. :mod:`bot.config` reads the
file into these models; :attr:`Estate.layout` is the plain-data view the board needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from bot.close.config import CloseSection, auto_start_problems, close_reference_problems
from bot.close.periods import period_token_problems, without_period_tokens
from bot.errors import closest_match
from bot.layout import AppLayout, Layout


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


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


class DeviceAuth(_Strict):
    """OAuth 2 device authorization grant (RFC 8628), Oracle's sign-in for EPM REST.

    A person signs in once with ``epmpulse epm login SERVER``; the refresh token that
    yields is stored and then rotates as with :class:`RefreshTokenAuth`.
    """

    type: Literal["oauth_device"]
    token_url: str = Field(pattern=r"^https?://")
    device_url: str = Field(pattern=r"^https?://")
    client_id: str = Field(min_length=1)
    scope: str = Field(min_length=1)


EpmAuth = Annotated[
    BasicAuth | RefreshTokenAuth | ClientCredentialsAuth | DeviceAuth,
    Field(discriminator="type"),
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

# Every jobType Oracle documents for POST …/HyperionPlanning/rest/v3/applications/{app}/jobs
# (planning and fccs servers), spelled as its page in "REST APIs for Oracle Fusion Cloud
# EPM" spells it. "Manage Jobs" lists the job pages and "Execute a Job" says values are
# case sensitive:
# https://docs.oracle.com/en/cloud/saas/enterprise-performance-management-common/prest/manage_jobs.html
# https://docs.oracle.com/en/cloud/saas/enterprise-performance-management-common/prest/execute_a_job.html
# docs/oracle/job-starts.md cites each job's page, and names the documented jobs left out
# because their jobType could not be read there. The sandbox keeps the same list
# (bot/sandbox/epm/starts.py; a test keeps the two equal).
PLANNING_JOB_TYPES = (
    *("Rules", "RULES", "Ruleset", "RULESET", "Plan Type Map", "PLAN_TYPE_MAP"),
    *("Import Data", "IMPORT_DATA", "Export Data", "EXPORT_DATA"),
    *("Import Metadata", "IMPORT_METADATA", "Export Metadata", "EXPORT_METADATA"),
    *("Cube Refresh", "CUBE_REFRESH", "Clear Cube", "CLEAR_CUBE"),
    *("Administration Mode", "Compact Cube", "Restructure Cube", "Merge Data Slices"),
    *("Optimize Aggregation", "Export Security", "Export Audit", "Export Job Console"),
    *("Sort Members", "Import Exchange Rates", "IMPORT_EXCHANGE_RATES", "Auto Predict"),
    *("Execute Bursting Definition", "EXECUTE_MR_BURST"),
    *("Import Document to Library", "IMPORT_DOCUMENT_TO_LIBRARY"),
    # Financial Consolidation and Close jobs on the same endpoint.
    *("IMPORT_JOURNAL", "EXPORT_JOURNAL", "COPY_DATA", "Copy_Data", "Clear_Data"),
)
# Data Integration parameters that name periods, which it takes in braces: {Oct-26}.
BRACED_PERIOD_PARAMETERS = ("periodName", "startPeriod", "endPeriod")
_BRACED = re.compile(r"(\{[^{}]+\})+")


class JobSpec(_Strict):
    """The EPM job that produces a domain (SPEC §13); period tokens in values: SPEC §16."""

    type: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_]+( [A-Za-z_]+)*$")
    name: str = Field(min_length=1, max_length=200)
    parameters: dict[str, JobParameter] = Field(default_factory=dict)
    auto_start: bool = False  # the close conductor starts it (SPEC §17)


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


# The built-in estate (SPEC §3), as the YAML file would give it.
DEFAULT_APPS: dict[str, dict[str, Any]] = {
    "Planning": {"domains": ["Actuals", "Forecast", "Budget"]},
    "FCCS": {"domains": ["Actuals", "Consolidation"]},
    "ARCS": {"domains": ["Reconciliation"]},
}


def _default_apps() -> dict[str, Any]:
    return {name: dict(app) for name, app in DEFAULT_APPS.items()}


class Estate(_Strict):
    """The shape of the estate: apps, domains and EPM servers (the YAML file)."""

    # Defaults are given as the YAML file would give them and validated with the estate,
    # so that no section model builds a validator of its own (start-up time, SPEC §12).
    apps: dict[str, AppConfig] = Field(
        default_factory=_default_apps, min_length=1, validate_default=True
    )
    epm: EpmSection = Field(default_factory=dict, validate_default=True)
    staleness: Staleness = Field(default_factory=dict, validate_default=True)
    canvas: CanvasSection = Field(default_factory=dict, validate_default=True)
    close: CloseSection | None = None

    @property
    def layout(self) -> Layout:
        """Apps, domains, server names, canvas and close rules as plain data."""
        return Layout(
            apps={
                name: AppLayout(tuple(app.domains), app.server) for name, app in self.apps.items()
            },
            servers=tuple(self.epm.servers),
            canvas_title=self.canvas.title,
            canvas_timezone=self.canvas.timezone,
            close=None if self.close is None else self.close.rules(),
        )

    @model_validator(mode="after")
    def _consistent(self) -> Estate:
        _check_names(list(self.apps), "app")
        referencing = self.close is not None or any(
            app.server is not None or app.jobs for app in self.apps.values()
        )
        if referencing:
            document = self.model_dump(mode="python")
            problems = reference_problems(document) + job_problems(document)
            if problems:
                raise ValueError("\n".join(problems))
        return self

    def resolve_app(self, name: str) -> str:
        """Return the canonical app name for ``name`` (case-insensitive)."""
        return self.layout.resolve_app(name)

    def resolve_domain(self, app: str, name: str) -> tuple[str, str]:
        """Return canonical ``(app, domain)``; raise UnknownNameError naming the choices."""
        return self.layout.resolve_domain(app, name)

    def resolve_server(self, name: str) -> str:
        """Return the canonical EPM server name for ``name``."""
        return self.layout.resolve_server(name)

    def close_timezone(self) -> str:
        """Where working days, deadlines and periods are counted (SPEC §11)."""
        return self.layout.close_timezone()

    def domain_keys(self) -> list[tuple[str, str]]:
        """Every ``(app, domain)`` in configuration order."""
        return self.layout.domain_keys()


def reference_problems(document: Mapping[str, Any]) -> list[str]:
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
            domains = {name: list(app["domains"]) for name, app in DEFAULT_APPS.items()}
        deadlines, depends_on = close.get("deadlines"), close.get("depends_on")
        problems += close_reference_problems(
            domains,
            deadlines if isinstance(deadlines, dict) else {},
            depends_on if isinstance(depends_on, dict) else {},
            close.get("weekend", ["Saturday", "Sunday"]),
            close.get("sign_off"),
        )
    problems += auto_start_problems(apps if isinstance(apps, dict) else {}, close)
    return problems


def job_problems(document: Mapping[str, Any]) -> list[str]:
    """Jobs for unknown domains, of apps without a server or on an arcs server, and jobs EPM
    would refuse: a job type Oracle does not document, a Data Integration period outside
    braces (SPEC §16); and period tokens whose format is not a month's."""
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
                problems += _braces_problems(f"apps.{name}.jobs.{domain}.parameters", parameters)
        elif kind in ("planning", "fccs"):
            for domain, job in jobs.items():
                job_type = job.get("type") if isinstance(job, Mapping) else None
                if isinstance(job_type, str) and job_type not in PLANNING_JOB_TYPES:
                    problems.append(_job_type_problem(f"apps.{name}.jobs.{domain}.type", job_type))
        for domain, job in jobs.items():
            parameters = job.get("parameters") if isinstance(job, Mapping) else None
            for key, value in parameters.items() if isinstance(parameters, Mapping) else []:
                if isinstance(value, str):
                    where = f"apps.{name}.jobs.{domain}.parameters.{key}"
                    problems += [f"{where}: {p}" for p in period_token_problems(value)]
    return problems


def _job_type_problem(where: str, job_type: str) -> str:
    # Oracle's values are case sensitive ("Execute a Job"), so "rules" is refused while the
    # suggestion, found case-insensitively, names the spelling EPM takes.
    hint = closest_match(job_type, PLANNING_JOB_TYPES)
    return (
        f"{where}: '{job_type}' is not a job type Oracle documents for planning and fccs "
        f"servers (case matters); valid: {', '.join(PLANNING_JOB_TYPES)}"
        + (f" (did you mean {hint}?)" if hint else "")
    )


def _braces_problems(where: str, parameters: Any) -> list[str]:
    # Oracle's "Running Integrations" sends "periodName":"{Mar-20}":
    # https://docs.oracle.com/en/cloud/saas/epm-cloud/prest/fdmee_integration_jobtype_106x0fea7396.html
    # startPeriod/endPeriod in braces is SPEC §16's rule, our reading (docs/oracle/job-starts.md).
    problems = []
    for key in BRACED_PERIOD_PARAMETERS:
        value = parameters.get(key) if isinstance(parameters, Mapping) else None
        if value is None:
            continue
        text = str(value)
        if not _BRACED.fullmatch(without_period_tokens(text).strip()):
            fix = "{" + text.strip().strip("{}") + "}"
            problems.append(
                f'{where}.{key}: Data Integration takes periods in braces; write {key}: "{fix}"'
            )
    return problems


def _check_names(names: list[str], kind: str) -> None:
    seen: set[str] = set()
    for name in names:
        if not name.strip():
            raise ValueError(f"{kind} names must not be empty")
        if name.lower() in seen:
            raise ValueError(f"{kind} '{name}' appears twice (names are case-insensitive)")
        seen.add(name.lower())
