"""Opens the store the settings name: PostgreSQL with ``EPMPULSE_DATABASE_URL``, else JSON.

Everything above this module (service, parts, CLI) talks to :class:`~bot.store.Store`
only. psycopg is imported only when a database URL is set.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.store.base import Store

if TYPE_CHECKING:
    from bot.settings import Settings


def open_store(settings: Settings) -> Store:
    """The configured store, opened (tables migrated, state validated)."""
    url = settings.database_url
    return open_store_at(settings.data_dir, None if url is None else url.get_secret_value())


def open_store_at(data_dir: Path, database_url: str | None) -> Store:
    """The database at ``database_url`` when given, else the JSON store in ``data_dir``."""
    if database_url is not None:
        from bot.store.postgres import PostgresStore

        return PostgresStore(database_url)
    from bot.store.json_store import JsonStore

    return JsonStore(data_dir)
