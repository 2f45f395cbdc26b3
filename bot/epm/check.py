"""``epmpulse check`` for EPM: reach every configured server (token + a harmless GET)."""

from __future__ import annotations

from bot.config import Config
from bot.epm.client import EpmClient
from bot.errors import EpmError
from bot.runtime import Check


def check_servers(config: Config) -> dict[str, Check]:
    """Authenticate against and probe each configured EPM server, by name, in order."""
    results: dict[str, Check] = {}
    for name, server in config.estate.epm.servers.items():
        client = EpmClient(name, server, data_dir=config.settings.data_dir, pool_size=1)
        try:
            results[name] = Check(True, f"{server.base_url}: {client.probe()}")
        except EpmError as exc:
            kind = "permanent" if exc.permanent else "transient"
            results[name] = Check(False, f"{server.base_url}: {exc} ({kind})")
        finally:
            client.close()
    return results
