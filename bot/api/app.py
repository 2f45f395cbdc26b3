"""The FastAPI application factory of the REST API (SPEC §7)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fastapi import FastAPI
from pydantic import SecretStr

from bot.api import close, export, holds, jobs, ops, report, status
from bot.api.auth import KeyRing
from bot.api.context import API_PREFIX, ApiContext, HealthCheck
from bot.api.errors import install_error_handlers
from bot.api.observe import ObserveMiddleware
from bot.api.openapi import correct_openapi
from bot.api.ratelimit import DEFAULT_STORAGE, RateLimiter, RateLimits
from bot.epm.launch import JobLauncher
from bot.errors import ConfigError
from bot.leader import Role
from bot.metrics import Metrics
from bot.parts import Host
from bot.service import StatusService

_DESCRIPTION = """\
Read and set EPM close statuses from automation.

Send `Authorization: Bearer <key>` (a key from `EPMPULSE_API_KEYS`) to every
endpoint except `/api/v1/health` and `/metrics`. Success is
`{{"ok": true, "data": …}}`; failure is `{{"ok": false, "error": {{"code", "message"}}}}`.
Authentication is checked before the body; bodies over 64 KiB are refused with 413.

Per-key rate limits (moving window): {limits}. Exceeding one answers 429
`RATE_LIMITED` with `Retry-After`; every keyed answer carries `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset`.
"""


def create_api(
    service: StatusService,
    *,
    api_keys: Mapping[str, SecretStr],
    metrics: Metrics,
    health: HealthCheck,
    rate_limits: RateLimits | None = None,
    rate_limit_storage: str = DEFAULT_STORAGE,
    launcher: JobLauncher | None = None,
    role: Callable[[], Role] | None = None,
) -> FastAPI:
    """Build the API over ``service``; ``health`` returns every check by name.

    ``launcher`` starts EPM jobs for ``POST /jobs`` (without one, no job can start).
    ``role`` says whether this instance leads (``/health`` shows it); default: it does.

    Raises ValueError when ``rate_limit_storage`` cannot be used.
    """
    limits = rate_limits or RateLimits.default()
    app = FastAPI(
        title="EPMPulse API",
        version="1",
        description=_DESCRIPTION.format(limits=limits.describe()),
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        swagger_ui_oauth2_redirect_url=f"{API_PREFIX}/docs/oauth2-redirect",
        redoc_url=None,
        # Handed over rather than included: app.routes then lists the real routes (the
        # 405 handler reads their methods) and each request is matched once, not twice.
        routes=[
            *status.router.routes,
            *report.router.routes,
            *close.router.routes,
            *jobs.router.routes,
            *holds.router.routes,
            *export.router.routes,
            *ops.health_router.routes,
            *ops.metrics_router.routes,
        ],
    )
    app.state.api = ApiContext(
        service=service,
        metrics=metrics,
        health=health,
        keys=KeyRing(api_keys),
        limiter=RateLimiter(limits, rate_limit_storage),
        launcher=launcher,
        **({"role": role} if role is not None else {}),
    )
    install_error_handlers(app, app.routes)
    app.add_middleware(ObserveMiddleware, metrics=metrics)
    correct_openapi(app)
    return app


def create_api_for(runtime: Host, *, launcher: JobLauncher | None = None) -> FastAPI:
    """The API of ``epmpulse run``: the runtime's service, metrics, health and settings.

    Raises ConfigError when EPMPULSE_RATE_LIMITS or EPMPULSE_RATE_LIMIT_STORAGE is invalid.
    """
    settings = runtime.config.settings
    problems: list[str] = []
    limits = RateLimits.default()
    try:
        limits = RateLimits.parse(settings.rate_limits)
    except ValueError as exc:
        problems.append(f"EPMPULSE_RATE_LIMITS: {exc}")
    try:
        app = create_api(
            runtime.service,
            api_keys=settings.api_keys,
            metrics=runtime.metrics,
            health=runtime.health,
            rate_limits=limits,
            rate_limit_storage=settings.rate_limit_storage,
            launcher=launcher,
            role=runtime.role,
        )
    except ValueError as exc:
        problems.append(f"EPMPULSE_RATE_LIMIT_STORAGE: {exc}")
    if problems:
        raise ConfigError(problems)
    return app
