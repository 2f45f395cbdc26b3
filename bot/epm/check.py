"""``epmpulse check`` for EPM: reach every configured server (token + a harmless GET)."""

from __future__ import annotations

from bot.config import Config
from bot.epm.client import EpmClient
from bot.epm.tokens import token_storage
from bot.errors import EpmError, StoreError
from bot.runtime import Check
from bot.store import Store
from bot.store.factory import open_store


def check_servers(config: Config) -> dict[str, Check]:
    """Authenticate against and probe each configured EPM server, by name, in order."""
    results: dict[str, Check] = {}
    store: Store | None = None
    if config.settings.database_url is not None and config.estate.epm.servers:
        try:
            store = open_store(config.settings)  # rotated tokens live in the database
        except StoreError as exc:
            return {name: Check(False, str(exc)) for name in config.estate.epm.servers}
    try:
        for name, server in config.estate.epm.servers.items():
            client = EpmClient(
                name,
                server,
                data_dir=config.settings.data_dir,
                pool_size=1,
                token_file=token_storage(config.settings, name, store),
            )
            try:
                results[name] = Check(True, f"{server.base_url}: {client.probe()}")
            except EpmError as exc:
                kind = "permanent" if exc.permanent else "transient"
                results[name] = Check(False, f"{server.base_url}: {exc} ({kind})")
            finally:
                client.close()
    finally:
        if store is not None:
            store.close()
    return results
