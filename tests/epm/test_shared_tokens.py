"""Rotated refresh tokens kept in PostgreSQL: one instance's rotation serves the next."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.epm.client import EpmClient
from bot.epm.tokens import StoredRefreshToken, token_storage
from bot.sandbox.epm import EpmSandbox
from bot.store.postgres import PostgresStore
from tests.conftest import MakeConfig
from tests.epm.conftest import server

JOB = "/HyperionPlanning/rest/v3/applications/Vision/jobs/"
TOKEN = "/oauth2/v1/token"


def test_with_a_database_the_rotation_is_stored_there_and_another_instance_uses_it(
    epm: EpmSandbox,
    make_client: Callable[..., EpmClient],
    make_config: MakeConfig,
    pg_url: str,
    tmp_path: Path,
) -> None:
    """Instance B refreshes with the token A rotated (single-use), nothing on disk."""
    settings = make_config(EPMPULSE_DATABASE_URL=pg_url).settings
    epm.add_job("planning", 1, "ok")
    config = server(epm, auth="oauth_refresh_token")
    first, second = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        storage = token_storage(settings, "p", first)
        assert isinstance(storage, StoredRefreshToken)
        assert make_client("p", config, token_file=storage).job_status("1").finished
        stored = second.snapshot().meta["epm_refresh_token:p"]["refresh_token"]
        assert epm.live_refresh_tokens("epmpulse") == [stored]
        epm.expire_access_tokens()
        other = make_client("p", config, token_file=token_storage(settings, "p", second))
        assert other.job_status("1").finished
        assert [r.status for r in epm.requests(TOKEN)] == [200, 200]
        assert epm.live_refresh_tokens("epmpulse") == [
            first.snapshot().meta["epm_refresh_token:p"]["refresh_token"]
        ]
        assert not (tmp_path / "data" / "tokens").exists()
    finally:
        first.close()
        second.close()
