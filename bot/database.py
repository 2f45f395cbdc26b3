"""Connecting to PostgreSQL: the settings every EPMPulse session uses, and the URL's label.

The store's pool (:mod:`bot.store.postgres`), the leader's own session
(:mod:`bot.leader`) and the session check (:mod:`bot.store.pooler`) connect through
here. A URL is read by psycopg's ``conninfo_to_dict``, in either form (``postgresql://``
or ``key=value``); its password never leaves this module in a label or a message.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

CONNECT_TIMEOUT_SECONDS = 5


def safe_url(url: str) -> str:
    """``url`` without its password, for logs and messages."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(an unparsable database URL)"
    host, db = params.get("host", "localhost"), params.get("dbname", "")
    return f"postgresql://{host}:{params.get('port', 5432)}/{db}"


def conninfo(url: str, **settings: Any) -> str:
    """``url`` with settings that notice a dead peer within seconds, not hours.

    Settings the URL names itself are kept; ``settings`` override both.
    """
    params = conninfo_to_dict(url)
    defaults: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "application_name": "epmpulse",
    }
    kept = {k: v for k, v in defaults.items() if k not in params}
    return make_conninfo(url, **{**kept, **settings})


def reason(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type when it has none), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
