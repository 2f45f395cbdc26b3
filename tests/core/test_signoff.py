"""Four-eyes sign-off in the status service (SPEC §18): configuration, rules, a property."""

from __future__ import annotations

import contextlib
import tempfile
import threading
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import load_config
from bot.errors import ConfigError, NotAllowedError, StaleRequestError, ValidationError
from bot.model import JobRef, Status
from bot.service import Change, StatusService
from bot.signoff import decide, requests
from bot.store import JsonStore, WorkingState
from tests.conftest import MakeConfig

ESTATE = """
apps:
  FCCS: {domains: [Actuals, Consolidation]}
close:
  sign_off: {domains: [fccs/consolidation], approvers: [U0A, U0B]}
"""
APPROVERS = {"U0A", "U0B"}
PEOPLE = ["slack:U0A", "slack:U0B", "slack:U0C"]  # U0C edits but does not approve
SOURCES = [*PEOPLE, "api:ci", "epm:planning", "system"]


def is_approver(user: str) -> bool:
    """The approvers of ESTATE."""
    return user in APPROVERS


def test_sign_off_problems_are_listed_with_the_rest(make_config: MakeConfig) -> None:
    """Unknown domains, bad ids, no approvers and unknown keys are config errors, all at once."""
    yaml_text = """
apps: {FCCS: {domains: [Consolidation]}}
close:
  sign_off: {domains: [FCCS/Consolidaton], approvers: [bob], quorum: 2}
canvas: {title: 5}
"""
    with pytest.raises(ConfigError) as caught:
        make_config(yaml_text)
    text = str(caught.value)
    assert "close.sign_off.domains: unknown domain 'FCCS/Consolidaton'" in text
    assert "did you mean FCCS/Consolidation?" in text
    assert "'bob': not a Slack user (U…, W…) or usergroup (S…) id" in text
    assert "close.sign_off.quorum" in text
    with pytest.raises(ConfigError, match="approvers"):
        make_config("close:\n  sign_off: {domains: all, approvers: []}\n")


def test_all_puts_every_domain_under_sign_off(make_config: MakeConfig) -> None:
    """``domains: all`` applies to every domain; without sign_off none is."""
    config = make_config("close:\n  sign_off: {domains: all, approvers: [S0FIN]}\n")
    rules = config.estate.layout.close
    assert rules is not None and rules.sign_off is not None
    assert rules.sign_off.applies("ARCS", "Reconciliation")
    assert make_config("close: {reset: true}\n").estate.layout.close.sign_off is None  # type: ignore[union-attr]


@pytest.fixture
def service(make_config: MakeConfig, tmp_path: Path) -> StatusService:
    """A service over ESTATE."""
    config = make_config(ESTATE)
    return StatusService(config.estate.layout, JsonStore(config.settings.data_dir))


def test_the_poller_resolving_a_job_ok_requests_sign_off(service: StatusService) -> None:
    """A tracked job ending OK leaves the domain Loading with a request by epm:SERVER."""
    service.set("FCCS", "Consolidation", "Loading", by="system")

    def resolve(work: WorkingState, now: datetime) -> tuple[Change, list[Change]]:
        key = ("FCCS", "Consolidation")
        change = service.record_change(work, key, Status.OK, "job 7 done", "epm:fccs", now)
        return change, [change]

    change = service.transact(resolve)
    assert change.awaiting_approval and change.new.status is Status.LOADING
    assert change.new.pending_approval is not None
    assert change.new.pending_approval.by == "epm:fccs"


def test_a_request_keeps_the_jobs_it_was_given(service: StatusService) -> None:
    """Tracked jobs are replaced as the change asked; only the status waits."""
    service.set("FCCS", "Consolidation", "Loading", by="system")

    def ok_with_job(work: WorkingState, now: datetime) -> tuple[Change, list[Change]]:
        key = ("FCCS", "Consolidation")
        jobs = [JobRef("fccs", "8")]
        change = service.record_change(work, key, Status.OK, "", "api:ci", now, jobs=jobs)
        return change, [change]

    change = service.transact(ok_with_job)
    assert change.new.jobs == (JobRef("fccs", "8"),)
    assert change.new.status is Status.LOADING


def test_a_decision_on_a_stale_request_changes_nothing(service: StatusService) -> None:
    """An unknown request id, an empty reason and the requester are refused; nothing changes."""
    service.set("FCCS", "Consolidation", "OK", by="slack:U0A")
    record = service.get("FCCS", "Consolidation")
    assert record.pending_approval is not None
    version = service.version
    with pytest.raises(StaleRequestError, match="no longer pending"):
        decide(
            service,
            "FCCS",
            "Consolidation",
            "feedbeef",
            by="slack:U0B",
            approve=True,
            is_approver=is_approver,
        )
    with pytest.raises(ValidationError, match="reason"):
        decide(
            service,
            "FCCS",
            "Consolidation",
            record.pending_approval.id,
            by="slack:U0B",
            approve=False,
            is_approver=is_approver,
            reason="  ",
        )
    with pytest.raises(NotAllowedError, match="yourself"):
        decide(
            service,
            "FCCS",
            "Consolidation",
            record.pending_approval.id,
            by="slack:U0A",
            approve=True,
            is_approver=is_approver,
        )
    assert service.version == version and service.get("FCCS", "Consolidation") == record
    assert list(requests(service.store.snapshot().meta)) == [record.pending_approval.id]


statuses = st.sampled_from([s.value for s in Status])
steps = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(SOURCES), statuses),
        st.tuples(st.just("approve"), st.sampled_from(SOURCES), st.booleans()),
        st.tuples(st.just("reject"), st.sampled_from(SOURCES), st.booleans()),
    ),
    max_size=14,
)


@settings(max_examples=60, deadline=None)
@given(steps=steps)
def test_no_sequence_leaves_a_sign_off_domain_ok_without_a_second_approver(
    steps: list[tuple[str, str, object]],
) -> None:
    """Whatever is set, approved, rejected or cancelled, by whomever: an OK on a sign-off
    domain always carries an approver who is not its requester, in the record and history."""
    with tempfile.TemporaryDirectory() as data:
        config = load_config({"EPMPULSE_DATA_DIR": data, "EPMPULSE_CONFIG": _estate(data)})
        store = JsonStore(config.settings.data_dir)
        try:
            service = StatusService(config.estate.layout, store)
            seen_ids: list[str] = []
            for action, by, arg in steps:
                pending = service.get("FCCS", "Consolidation").pending_approval
                if pending is not None and pending.id not in seen_ids:
                    seen_ids.append(pending.id)
                if action == "set":
                    service.set("FCCS", "Consolidation", str(arg), by=by)
                    continue
                current = arg and pending is not None
                request_id = pending.id if current and pending else (seen_ids or ["0"])[0]
                with contextlib.suppress(NotAllowedError, StaleRequestError):
                    decide(
                        service,
                        "FCCS",
                        "Consolidation",
                        request_id,
                        by=by,
                        approve=action == "approve",
                        is_approver=is_approver,
                        reason="no",
                    )
                _check(service)
            _check(service)
        finally:
            store.close()


def _estate(data: str) -> str:
    path = Path(data) / "epmpulse.yml"
    path.write_text(ESTATE, encoding="utf-8")
    return str(path)


def _check(service: StatusService) -> None:
    record = service.get("FCCS", "Consolidation")
    if record.status is Status.OK:
        assert record.approved_by is not None
        assert record.approved_by.removeprefix("slack:") in APPROVERS
        assert record.approved_by != record.updated_by
    else:
        assert record.approved_by is None
    for entry in service.history("FCCS", "Consolidation", 1000):
        if entry.new_status is Status.OK:
            assert entry.approved_by is not None and entry.approved_by != entry.by
            assert entry.approved_by.removeprefix("slack:") in APPROVERS


def test_epmpulse_set_ok_on_a_sign_off_domain_waits_for_approval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI is a surface like any other: its OK waits, and `status` says so."""
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EPMPULSE_CONFIG", _estate(str(tmp_path)))
    monkeypatch.setenv("EPMPULSE_LOG_FORMAT", "text")
    assert main(["set", "fccs", "consolidation", "ok", "tied", "out"]) == 0
    assert capsys.readouterr().out.strip() == (
        "FCCS Consolidation: OK awaiting approval "
        "(stays Pending until an approver signs it off in Slack)"
    )
    assert main(["status", "FCCS", "Consolidation"]) == 0
    out = capsys.readouterr().out
    assert "Pending" in out and "[OK awaiting approval, asked by system]" in out
    assert main(["set", "fccs", "actuals", "ok"]) == 0
    assert capsys.readouterr().out.strip() == "FCCS Actuals: Pending -> OK"


def test_two_instances_on_postgresql_racing_commit_one_approval(
    make_config: MakeConfig, pg_url: str
) -> None:
    """Two instances (own pools) decide the same request at once: one approval, one refusal."""
    from bot.store.postgres import PostgresStore

    config = make_config(ESTATE)
    stores = [PostgresStore(pg_url), PostgresStore(pg_url)]
    try:
        services = [StatusService(config.estate.layout, store) for store in stores]
        services[0].set("FCCS", "Consolidation", "OK", by="slack:U0C")
        pending = services[1].get("FCCS", "Consolidation").pending_approval
        assert pending is not None
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def approve(service: StatusService, by: str) -> None:
            start.wait()
            try:
                decide(
                    service,
                    "FCCS",
                    "Consolidation",
                    pending.id,
                    by=by,
                    approve=True,
                    is_approver=is_approver,
                )
                outcomes.append("approved")
            except StaleRequestError as exc:
                outcomes.append(str(exc))

        threads = [
            threading.Thread(target=approve, args=(s, by))
            for s, by in zip(services, ("slack:U0A", "slack:U0B"), strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=15)
        assert len(outcomes) == 2 and outcomes.count("approved") == 1
        (refusal,) = [o for o in outcomes if o != "approved"]
        assert "was approved already" in refusal
        history = services[0].history("FCCS", "Consolidation")
        assert len(history) == 1 and history[0].approved_by in ("slack:U0A", "slack:U0B")
    finally:
        for store in stores:
            store.close()
