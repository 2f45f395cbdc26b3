"""A failing store is visible: health fails while writes fail, and clears after one works."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import portalocker
import pytest
from pydantic import SecretStr

from bot.api import create_api
from bot.config import Config
from bot.errors import StoreError
from bot.metrics import Metrics
from bot.runtime import Runtime
from bot.service import StatusService
from bot.store import JsonStore
from bot.store.health import WriteHealth, failure_reason, nothing_saved
from tests.api.conftest import TestClient
from tests.conftest import DiskFullStore

NOON = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def disk(config: Config) -> Iterator[DiskFullStore]:
    """A store whose disk a test can fill up."""
    store = DiskFullStore(config.settings.data_dir)
    yield store
    store.close()


def test_the_reason_names_a_full_disk_and_never_the_path() -> None:
    """ENOSPC anywhere in the cause chain reads 'disk full'; paths stay out of the reason."""
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/srv/secret/state.json")
        except OSError as exc:
            raise StoreError("cannot write to /srv/secret") from exc
    except StoreError as failure:
        assert failure_reason(failure) == "disk full"
        assert nothing_saved(failure) == (
            "Nothing was saved: the store is unavailable (disk full). "
            "No status was changed; please try again in a moment."
        )


def test_a_store_error_may_carry_its_own_reason() -> None:
    """A StoreError with a reason (e.g. a lock timeout) is described by it."""
    assert failure_reason(StoreError("the lock was not released", reason="lock timeout")) == (
        "lock timeout"
    )
    assert failure_reason(StoreError("no cause at all")) == "the store could not be written"


def test_write_health_keeps_the_first_failure_time_until_a_success() -> None:
    """Failures keep the time of the first one; a success clears them."""
    health = WriteHealth()
    assert health.failure is None
    full = StoreError("x")
    full.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    health.failed(full, NOON)
    health.failed(full, datetime(2026, 11, 2, 12, 5, tzinfo=UTC))
    assert health.failure == "writes failing since 2026-11-02T12:00:00Z: disk full"
    health.succeeded()
    assert health.failure is None


def test_the_service_records_failing_and_recovered_writes(
    config: Config, disk: DiskFullStore
) -> None:
    """A failed set is recorded with its reason; the next durable set clears it."""
    service = StatusService(config.estate.layout, disk, clock=lambda: NOON)
    disk.full = True
    with pytest.raises(StoreError):
        service.set("Planning", "Actuals", "OK", by="system")
    assert service.write_health.failure == "writes failing since 2026-11-02T12:00:00Z: disk full"
    assert ("Planning", "Actuals") not in disk.snapshot().records
    disk.full = False
    service.set("Planning", "Actuals", "OK", by="system")
    assert service.write_health.failure is None


def test_health_answers_503_while_writes_fail_and_200_after_the_next_write(
    config: Config, disk: DiskFullStore, tmp_path: Path
) -> None:
    """/api/v1/health fails its store check while writes fail and recovers by itself."""
    runtime = Runtime(config, store=disk)
    app = create_api(
        runtime.service,
        api_keys={"ci": SecretStr("ci-key-0123456789")},
        metrics=runtime.metrics,
        health=runtime.health,
    )
    ci = {"Authorization": "Bearer ci-key-0123456789"}
    body = {"app": "Planning", "domain": "Actuals", "status": "OK"}
    runtime.scheduler.start(paused=True)  # the scheduler check passes; no job ever runs
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/api/v1/health").status_code == 200
            disk.full = True
            assert client.post("/api/v1/status", json=body, headers=ci).status_code == 503
            health = client.get("/api/v1/health")
            assert health.status_code == 503
            store = health.json()["data"]["checks"]["store"]
            assert store["ok"] is False and store["detail"].endswith(": disk full")
            disk.full = False
            assert client.post("/api/v1/status", json=body, headers=ci).status_code == 200
            health = client.get("/api/v1/health")
            assert health.status_code == 200
            assert health.json()["data"]["checks"]["store"]["ok"] is True
    finally:
        runtime.scheduler.shutdown(wait=False)


def test_a_lock_timeout_answers_503_store_unavailable(config: Config) -> None:
    """A commit that cannot get the data directory's lock in time is a 503, nothing changed."""
    store = JsonStore(config.settings.data_dir, lock_timeout=0.2)
    service = StatusService(config.estate.layout, store)
    app = create_api(
        service,
        api_keys={"ci": SecretStr("ci-key-0123456789")},
        metrics=Metrics(),
        health=lambda: {},
    )
    holder = portalocker.Lock(config.settings.data_dir / ".lock", timeout=1)
    body = {"app": "Planning", "domain": "Actuals", "status": "OK"}
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            holder.acquire()
            try:
                response = client.post(
                    "/api/v1/status",
                    json=body,
                    headers={"Authorization": "Bearer ci-key-0123456789"},
                )
            finally:
                holder.release()
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "STORE_UNAVAILABLE"
        assert ("Planning", "Actuals") not in store.snapshot().records
    finally:
        store.close()
