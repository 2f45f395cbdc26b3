"""``epmpulse check`` for EPM: reach every configured server (token + a harmless GET).

On planning/fccs servers it also lists the applications (Oracle's "Get Applications")
and fails when the configured ``application`` is not among them, naming the ones found.
"""

from __future__ import annotations

import difflib

from bot.config import Config
from bot.epm.client import APPLICATIONS_PATH, EpmClient
from bot.epm.tokens import token_storage
from bot.errors import EpmError, StoreError
from bot.estate import EpmServer
from bot.parts import Check
from bot.proxy import Proxies
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
                proxies=Proxies.from_settings(config.settings),
            )
            try:
                detail = client.probe()
                if server.kind in ("planning", "fccs"):
                    found = _application_found(client, server)
                    if not found.ok:
                        results[name] = Check(False, f"{server.base_url}: {found.detail}")
                        continue
                    detail = f"{found.detail}; {detail}"
                results[name] = Check(True, f"{server.base_url}: {detail}")
            except EpmError as exc:
                kind = "permanent" if exc.permanent else "transient"
                results[name] = Check(False, f"{server.base_url}: {exc} ({kind})")
            finally:
                client.close()
    finally:
        if store is not None:
            store.close()
    return results


def _application_found(client: EpmClient, server: EpmServer) -> Check:
    """Whether the configured application is among those the server lists."""
    app = server.application or ""
    try:
        names = client.application_names()
    except EpmError as exc:
        if exc.status_code == 404:
            hint = (
                "the base URL is wrong: use the service URL without any context such as "
                "/epmcloud (https://epm-acme.epm.REGION.ocs.oraclecloud.com)"
            )
            if server.base_url.rstrip("/").lower().endswith("/epmcloud"):
                hint += "; drop the trailing /epmcloud"
            return Check(False, f"GET {APPLICATIONS_PATH} -> HTTP 404: {hint}")
        raise
    listed = ", ".join(names) or "none"
    if app in names:
        return Check(True, f"{server.kind}: {app} found (applications: {listed})")
    detail = f"application '{app}' not found on {server.kind}; it has: {listed}"
    closest = difflib.get_close_matches(app, names, n=1)
    if closest:
        detail += f" (did you mean '{closest[0]}'?)"
    return Check(False, detail)
