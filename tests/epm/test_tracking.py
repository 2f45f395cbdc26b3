"""``track``: set Loading and follow a job on the app's (or a named) EPM server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.config import Config
from bot.epm.tracking import MAX_TRACKED_JOBS, track
from bot.errors import UnknownNameError, ValidationError
from bot.model import JobRef, Status
from bot.sandbox.epm import EpmSandbox
from bot.service import StatusService
from tests.epm.conftest import MakeEstate, server_doc


@pytest.fixture
def config(epm: EpmSandbox, make_estate: MakeEstate) -> Config:
    """Planning defaults to server ``planning``; FCCS has no default; ``arcs`` also exists."""
    return make_estate({"planning": server_doc(epm), "arcs": server_doc(epm, "arcs")})


def test_track_sets_loading_and_follows_the_job_on_the_apps_server(
    config: Config, open_service: Callable[[Config], StatusService]
) -> None:
    """Without a server, the app's configured server is used."""
    service = open_service(config)
    change = track(service, "planning", "actuals", "42", by="slack:U1")
    assert change.new.status is Status.LOADING
    assert change.new.jobs == (JobRef(server="planning", job_id="42"),)
    assert change.new.message == "Tracking EPM job 42 on planning"
    assert service.get("Planning", "Actuals").jobs == change.new.jobs
    assert service.history("Planning", "Actuals")[0].by == "slack:U1"


def test_a_named_server_is_matched_case_insensitively(
    config: Config, open_service: Callable[[Config], StatusService]
) -> None:
    """``track FCCS Actuals 7 ARCS`` follows job 7 on server ``arcs``."""
    change = track(open_service(config), "FCCS", "Actuals", "7", "ARCS", by="api:ci")
    assert change.new.jobs == (JobRef(server="arcs", job_id="7"),)


def test_an_app_without_a_default_server_needs_one_named(
    config: Config, open_service: Callable[[Config], StatusService]
) -> None:
    """The error says the app has no default server and lists the configured ones."""
    with pytest.raises(ValidationError, match=r"FCCS has no default EPM server.*planning, arcs"):
        track(open_service(config), "FCCS", "Actuals", "7", by="slack:U1")


def test_an_unknown_server_names_the_valid_ones(
    config: Config, open_service: Callable[[Config], StatusService]
) -> None:
    """A misspelt server gets the closest match."""
    with pytest.raises(UnknownNameError, match="Did you mean planning"):
        track(open_service(config), "Planning", "Actuals", "7", "planing", by="slack:U1")


@pytest.mark.parametrize("job_id", ["", "a/b", "x" * 101, "1 2"])
def test_a_malformed_job_id_is_refused_and_changes_nothing(
    config: Config, open_service: Callable[[Config], StatusService], job_id: str
) -> None:
    """Job ids are short words; nothing is written for a bad one."""
    service = open_service(config)
    with pytest.raises(ValidationError):
        track(service, "Planning", "Actuals", job_id, by="slack:U1")
    assert service.get("Planning", "Actuals").status is Status.PENDING


def test_tracking_more_jobs_adds_them_once(
    config: Config, open_service: Callable[[Config], StatusService]
) -> None:
    """A domain may wait for several jobs; tracking the same one twice keeps one entry."""
    service = open_service(config)
    track(service, "Planning", "Actuals", "1", by="slack:U1")
    track(service, "Planning", "Actuals", "2", "arcs", by="slack:U1")
    change = track(service, "Planning", "Actuals", "1", by="slack:U1")
    assert change.new.jobs == (
        JobRef(server="planning", job_id="1"),
        JobRef(server="arcs", job_id="2"),
    )
    assert change.new.message == "Tracking 2 EPM jobs: planning 1, arcs 2"


def test_a_manual_set_clears_tracked_jobs(
    config: Config, open_service: Callable[[Config], StatusService]
) -> None:
    """Setting a status by hand ends tracking (SPEC §6)."""
    service = open_service(config)
    track(service, "Planning", "Actuals", "1", by="slack:U1")
    service.set("Planning", "Actuals", "OK", by="slack:U2")
    assert service.get("Planning", "Actuals").jobs == ()


def test_a_domain_tracks_at_most_the_rest_apis_number_of_jobs(
    config: Config, open_service: Callable[[Config], StatusService]
) -> None:
    """The 21st job is refused naming the limit; re-tracking a followed job still works."""
    service = open_service(config)
    for job in range(MAX_TRACKED_JOBS):
        track(service, "Planning", "Actuals", str(job), by="slack:U1")
    with pytest.raises(ValidationError, match="already tracks 20 EPM jobs, the limit is 20"):
        track(service, "Planning", "Actuals", "overflow", by="slack:U1")
    change = track(service, "Planning", "Actuals", "0", by="slack:U1")
    assert len(change.new.jobs) == MAX_TRACKED_JOBS == 20
    assert JobRef(server="planning", job_id="overflow") not in change.new.jobs
