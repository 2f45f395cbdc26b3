"""``epmpulse check`` for EPM: reach every configured server (token + a harmless GET)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Config
from bot.epm.client import EpmClient
from bot.errors import EpmError


@dataclass(frozen=True)
class ServerCheck:
    """The outcome of checking one EPM server."""

    name: str
    ok: bool
    detail: str


def check_servers(config: Config) -> list[ServerCheck]:
    """Authenticate against and probe each configured EPM server, in order."""
    results = []
    for name, server in config.estate.epm.servers.items():
        client = EpmClient(name, server, data_dir=config.settings.data_dir, pool_size=1)
        try:
            results.append(ServerCheck(name, True, f"{server.base_url}: {client.probe()}"))
        except EpmError as exc:
            kind = "permanent" if exc.permanent else "transient"
            results.append(ServerCheck(name, False, f"{server.base_url}: {exc} ({kind})"))
        finally:
            client.close()
    return results
