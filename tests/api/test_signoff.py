"""Sign-off over REST (SPEC §18): an OK on a sign-off domain answers 202 and waits."""

from __future__ import annotations

import pytest

from bot.config import Config
from bot.errors import NotAllowedError
from bot.model import Status
from bot.service import StatusService
from bot.signoff import decide
from tests.api.conftest import TestClient
from tests.conftest import MakeConfig

ESTATE = """
apps:
  FCCS: {domains: [Actuals, Consolidation]}
close:
  sign_off: {domains: [FCCS/Consolidation], approvers: [U0BOB]}
"""


@pytest.fixture
def config(make_config: MakeConfig) -> Config:
    """FCCS/Consolidation needs sign-off; U0BOB approves."""
    return make_config(ESTATE)


def test_an_ok_on_a_sign_off_domain_answers_202_pending_approval(
    client: TestClient, ci: dict[str, str], api_service: StatusService
) -> None:
    """The change is committed as a request: 202, pending_approval true, status unchanged."""
    body = {"app": "fccs", "domain": "consolidation", "status": "ok", "message": "tied out"}
    response = client.post("/api/v1/status", json=body, headers=ci)
    assert response.status_code == 202
    data = response.json()["data"]
    assert data["pending_approval"] is True
    assert (data["status"], data["status_changed"], data["approved_by"]) == (
        "Pending",
        False,
        None,
    )

    shown = client.get("/api/v1/status/FCCS/Consolidation", headers=ci).json()["data"]
    assert shown["status"] == "Pending"
    assert shown["pending_approval"]["by"] == "api:ci"
    assert shown["pending_approval"]["message"] == "tied out"
    assert api_service.history("FCCS", "Consolidation") == []


def test_other_changes_answer_200_and_a_batch_with_a_request_answers_202(
    client: TestClient, ci: dict[str, str]
) -> None:
    """Only changes to OK on sign-off domains wait; one in a batch makes the answer 202."""
    warning = {"app": "FCCS", "domain": "Consolidation", "status": "Warning"}
    response = client.post("/api/v1/status", json=warning, headers=ci)
    assert response.status_code == 200 and response.json()["data"]["pending_approval"] is False
    ok = {"app": "FCCS", "domain": "Actuals", "status": "OK"}
    assert client.post("/api/v1/status", json=ok, headers=ci).status_code == 200

    updates = [{**ok, "status": "Loading"}, {**warning, "status": "OK"}]
    response = client.post("/api/v1/status/batch", json={"updates": updates}, headers=ci)
    assert response.status_code == 202
    assert [d["pending_approval"] for d in response.json()["data"]] == [False, True]


def test_an_api_key_cannot_approve_and_history_shows_the_approver(
    client: TestClient, ci: dict[str, str], api_service: StatusService
) -> None:
    """Only a person in Slack decides; after approval, history and export name the approver."""
    body = {"app": "FCCS", "domain": "Consolidation", "status": "OK"}
    client.post("/api/v1/status", json=body, headers=ci)
    pending = api_service.get("FCCS", "Consolidation").pending_approval
    assert pending is not None
    with pytest.raises(NotAllowedError):
        decide(
            api_service,
            "FCCS",
            "Consolidation",
            pending.id,
            by="api:ops",
            approve=True,
            is_approver=lambda _: True,
        )
    assert api_service.get("FCCS", "Consolidation").status is Status.PENDING

    decide(
        api_service,
        "FCCS",
        "Consolidation",
        pending.id,
        by="slack:U0BOB",
        approve=True,
        is_approver=lambda user: user == "U0BOB",
    )
    (entry,) = client.get("/api/v1/history?app=FCCS&domain=Consolidation", headers=ci).json()[
        "data"
    ]
    assert (entry["new_status"], entry["by"], entry["approved_by"]) == (
        "OK",
        "api:ci",
        "slack:U0BOB",
    )
    record = client.get("/api/v1/status/FCCS/Consolidation", headers=ci).json()["data"]
    assert (record["status"], record["approved_by"], record["pending_approval"]) == (
        "OK",
        "slack:U0BOB",
        None,
    )
