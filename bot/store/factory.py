"""Opens the store the settings name: PostgreSQL with ``EPMPULSE_DATABASE_URL``, else JSON.

Everything above this module (service, parts, CLI) talks to :class:`~bot.store.Store`
only. psycopg is imported only when a database URL is set.
"""

from __future__ import annotations

from bot.config import Settings
from bot.store.base import Store


def open_store(settings: Settings) -> Store:
    """The configured store, opened (tables migrated, state validated)."""
    if settings.database_url is not None:
        from bot.store.postgres import PostgresStore

        return PostgresStore(settings.database_url.get_secret_value())
    from bot.store.json_store import JsonStore

    return JsonStore(settings.data_dir)


def shares_state(settings: Settings) -> bool:
    """Whether several instances share this store (and so elect a leader)."""
    return settings.database_url is not None
