"""The board's layout: apps, their domains and EPM servers, the canvas and the close.

This is what reading and changing statuses needs of the configuration, as plain data
(named tuples, like :mod:`bot.model`): :class:`~bot.estate.Estate` validates the YAML
file and gives its layout (:attr:`~bot.estate.Estate.layout`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from bot.close.rules import CloseRules
from bot.errors import UnknownNameError
from bot.model import RecordKey


class AppLayout(NamedTuple):
    """One app: its domains in configuration order and the EPM server it runs on."""

    domains: tuple[str, ...]
    server: str | None = None


class Layout(NamedTuple):
    """Apps, domains, EPM server names, the canvas's title and timezone, the close rules."""

    apps: Mapping[str, AppLayout]
    servers: tuple[str, ...] = ()
    canvas_title: str = "EPM Status"
    canvas_timezone: str = "UTC"
    close: CloseRules | None = None

    def resolve_app(self, name: str) -> str:
        """Return the canonical app name for ``name`` (case-insensitive)."""
        wanted = name.strip().lower()
        for app in self.apps:
            if app.lower() == wanted:
                return app
        raise UnknownNameError("app", name, list(self.apps), code="INVALID_APP")

    def resolve_domain(self, app: str, name: str) -> RecordKey:
        """Return canonical ``(app, domain)``; raise UnknownNameError naming the choices."""
        canonical_app = self.resolve_app(app)
        domains = self.apps[canonical_app].domains
        wanted = name.strip().lower()
        for domain in domains:
            if domain.lower() == wanted:
                return canonical_app, domain
        raise UnknownNameError(
            "domain", name, list(domains), context=canonical_app, code="INVALID_DOMAIN"
        )

    def resolve_server(self, name: str) -> str:
        """Return the canonical EPM server name for ``name``."""
        wanted = name.strip().lower()
        for server in self.servers:
            if server.lower() == wanted:
                return server
        raise UnknownNameError("EPM server", name, list(self.servers))

    def domain_keys(self) -> list[RecordKey]:
        """Every ``(app, domain)`` in configuration order."""
        return [(app, domain) for app, cfg in self.apps.items() for domain in cfg.domains]

    def close_timezone(self) -> str:
        """Where working days, deadlines and periods are counted (SPEC §11)."""
        if self.close is not None and self.close.timezone:
            return self.close.timezone
        return self.canvas_timezone
