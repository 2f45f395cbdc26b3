"""Fixtures shared by every test area: configuration, store and service on a temp dir."""

from __future__ import annotations

import errno
import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import pytest

from bot.config import Config, load_config
from bot.errors import StoreError
from bot.service import StatusService
from bot.store import JsonStore, Mutation, WorkingState

# Tests only talk to 127.0.0.1; a proxy from the environment must never see them.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

MakeConfig = Callable[..., Config]
T = TypeVar("T")


class DiskFullStore(JsonStore):
    """A JSON store whose disk can be filled up: while ``full``, every commit fails.

    It fails the way the real store does when a write hits ENOSPC: the mutation runs on
    a working copy, then the write fails with a StoreError caused by the OSError, and
    nothing is changed.
    """

    full = False

    def commit(self, mutation: Mutation[T]) -> T:
        """Fail while the disk is full, commit normally otherwise."""
        if self.full:
            base = self.snapshot()
            mutation(WorkingState(base.version, dict(base.records), dict(base.meta)))
            cause = OSError(errno.ENOSPC, "No space left on device")
            raise StoreError(f"cannot write to {self.data_dir}: {cause}") from cause
        return super().commit(mutation)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put the root logger back after every test: a CLI run replaces its handlers with
    one writing to the test's captured stderr, which is closed once the test ends."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    """Build a Config from environment-style values and an optional YAML text."""

    def make(yaml_text: str | None = None, *, require_run: bool = False, **env: str) -> Config:
        values = {"EPMPULSE_DATA_DIR": str(tmp_path / "data"), **env}
        if yaml_text is not None:
            path = tmp_path / "epmpulse.yml"
            path.write_text(yaml_text, encoding="utf-8")
            values["EPMPULSE_CONFIG"] = str(path)
        return load_config(values, cwd=tmp_path, require_run=require_run)

    return make


@pytest.fixture
def config(make_config: MakeConfig) -> Config:
    """The built-in default estate with a temp data dir."""
    return make_config()


@pytest.fixture
def store(config: Config) -> Iterator[JsonStore]:
    """A JSON store in the temp data dir."""
    opened = JsonStore(config.settings.data_dir)
    yield opened
    opened.close()


@pytest.fixture
def service(config: Config, store: JsonStore) -> StatusService:
    """The status service over the temp store."""
    return StatusService(config.estate.layout, store)


def wait_until(
    condition: Callable[[], object], what: str, timeout: float = 5.0, interval: float = 0.01
) -> None:
    """Wait until ``condition()`` is true, checking every ``interval``; fail after ``timeout``.

    The one bounded wait of the test suite: tests wait on a condition, never a fixed time.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class FakeNow:
    """A UTC wall clock (aware datetimes) that only moves when a test says so."""

    def __init__(self, start: datetime = datetime(2025, 3, 31, 8, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward by ``timedelta(**delta)``."""
        self.now += timedelta(**delta)


class FakeClock:
    """A monotonic clock that only moves when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@pytest.fixture
def fake_clock() -> FakeClock:
    """A monotonic clock that only the test moves."""
    return FakeClock()


# PostgreSQL for the store, leader and multi-instance tests (SPEC §10). Each test gets a
# schema of its own, dropped afterwards.
POSTGRES_URL = os.environ.get(
    "EPMPULSE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@functools.cache
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it answers."""
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed ({exc})"
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{POSTGRES_URL} does not answer: {str(exc).strip()}"
    return None


def require_postgres() -> None:
    """Skip without PostgreSQL — but fail under CI, where it must be there."""
    problem = postgres_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required when CI is set: {problem}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {problem}")


def schema_url(schema: str) -> str:
    """The test database URL with ``schema`` first on the search path."""
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A database URL whose tables live in a fresh schema, dropped after the test."""
    require_postgres()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema_url(schema)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '10s'")
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
