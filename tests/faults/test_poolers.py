"""``epmpulse run`` refuses a transaction-mode pooler (SPEC §15 "Poolers").

Each test runs a private PgBouncer (tests/faults/pgbouncer.py) in front of a database
of its own: PgBouncer does not forward a schema on the search path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.errors import ConfigError, StoreError
from bot.runtime import Check
from bot.store.pooler import check_stable_session
from tests.conftest import POSTGRES_URL, free_port, require_postgres
from tests.faults.pgbouncer import PgBouncer, require_pgbouncer

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-pw"  # trust authentication ignores it; no message may show it
ADVICE = "use a direct connection or a session-mode pooler"

StartBouncer = Callable[..., PgBouncer]


@pytest.fixture
def database() -> Iterator[str]:
    """The name of a fresh database on the test server, dropped after the test."""
    require_postgres()
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def start_bouncer() -> Iterator[StartBouncer]:
    """Start a private PgBouncer in a pool mode; every one is stopped after the test."""
    require_pgbouncer()
    started: list[PgBouncer] = []

    def start(pool_mode: str, **options: int) -> PgBouncer:
        bouncer = PgBouncer(pool_mode, **options)
        started.append(bouncer)
        return bouncer.start()

    yield start
    for bouncer in started:
        bouncer.stop()


def with_password(url: str) -> str:
    """``url`` with a password in it."""
    return url.replace("@", f":{PASSWORD}@", 1)


def test_run_exits_2_behind_a_transaction_pooler_saying_what_to_use(
    start_bouncer: StartBouncer, database: str, tmp_path: Path
) -> None:
    """``run`` behind PgBouncer in transaction mode exits 2 before starting anything."""
    url = with_password(start_bouncer("transaction").url(database))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "EPMPULSE_"))},
        # Never reached: the check comes first.
        "SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/",
        "SLACK_BOT_TOKEN": "xoxb-x",
        "SLACK_APP_TOKEN": "xapp-x",
        "SLACK_CHANNEL_ID": "C0GENERAL",
        "EPMPULSE_DATABASE_URL": url,
        "EPMPULSE_DATA_DIR": str(tmp_path / "data"),
        "EPMPULSE_LOG_FORMAT": "text",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "transaction-mode pooler" in result.stderr
    assert ADVICE in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def store_line(url: str, tmp_path: Path) -> Check:
    """What ``epmpulse check`` says on its store line for the database at ``url``."""
    from bot.checks import run_checks
    from bot.config import load_config

    config = load_config(
        {"EPMPULSE_DATABASE_URL": url, "EPMPULSE_DATA_DIR": str(tmp_path / "data")},
        cwd=tmp_path,
    )
    return run_checks(config)["store"]


FRESH_DATABASE = Check(True, "the database: no EPMPulse tables yet: the first `run` creates them")


def test_the_check_passes_behind_a_session_pooler(
    start_bouncer: StartBouncer, database: str, tmp_path: Path
) -> None:
    """PgBouncer in session mode keeps a client on one server: the store line is ok."""
    assert store_line(start_bouncer("session").url(database), tmp_path) == FRESH_DATABASE


def test_the_check_passes_on_a_direct_connection(database: str, tmp_path: Path) -> None:
    """Straight to PostgreSQL, a session is one backend: the store line is ok."""
    url = urlsplit(POSTGRES_URL)._replace(path=f"/{database}").geturl()
    assert store_line(url, tmp_path) == FRESH_DATABASE


def test_the_check_names_a_transaction_pooler_with_one_server_within_its_timeout(
    start_bouncer: StartBouncer, database: str
) -> None:
    """With its only server held by another client, a pooled session waits: still a pooler.

    PgBouncer would queue the question for minutes and ignores a cancel request for a
    waiting client, so the check stops waiting after its timeout and says why.
    """
    bouncer = start_bouncer("transaction", pool_size=1)
    with pytest.raises(ConfigError) as raised:
        check_stable_session(with_password(bouncer.url(database)), timeout=2)
    assert ADVICE in str(raised.value)
    assert "no answer within 2 s" in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_an_unreachable_database_is_a_store_error_without_the_password() -> None:
    """A refused connection is an outage (exit 1), not a pooler, and hides the password."""
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/test"
    with pytest.raises(StoreError) as raised:
        check_stable_session(url)
    assert "cannot check the database session at postgresql://127.0.0.1:" in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_check_reports_a_transaction_pooler_on_its_store_line(
    start_bouncer: StartBouncer, database: str, tmp_path: Path
) -> None:
    """``epmpulse check`` fails the store check behind a transaction pooler, as run would."""
    store = store_line(with_password(start_bouncer("transaction").url(database)), tmp_path)
    assert not store.ok
    assert "transaction-mode pooler" in store.detail and ADVICE in store.detail
    assert PASSWORD not in store.detail
