"""The batch update modal and App Home, end to end through the sandbox."""

from __future__ import annotations

from typing import Any

from bot.model import Status
from bot.slack.modal import (
    APP_ACTION,
    APP_BLOCK,
    CALLBACK_ID,
    MESSAGE_BLOCK,
    STATUS_ACTION,
    read_submission,
)
from tests.slack.conftest import ALICE, BOB, MakeRunning, Running, block_texts


def status_blocks(view: dict[str, Any]) -> dict[str, str]:
    """Domain label -> block id of every status row in a modal."""
    return {
        b["label"]["text"]: b["block_id"]
        for b in view["blocks"]
        if b["type"] == "input" and b["block_id"] != MESSAGE_BLOCK
    }


def preselected(view: dict[str, Any]) -> dict[str, str]:
    """Domain label -> the status preselected in its row."""
    return {
        b["label"]["text"]: b["element"]["initial_option"]["value"]
        for b in view["blocks"]
        if b["type"] == "input" and b["block_id"] != MESSAGE_BLOCK
    }


def open_modal(running: Running, user: str = ALICE) -> dict[str, Any]:
    """Run the global shortcut and return the modal it opened."""
    running.sandbox.open_shortcut(CALLBACK_ID, user_id=user)
    return running.sandbox.wait_for_modal(user)


def test_the_shortcut_is_acked_before_the_modal_opens(running: Running) -> None:
    """The ack does not wait for views.open: it arrives while that call is held."""
    gate = running.sandbox.hold("views.open")
    try:
        running.sandbox.open_shortcut(CALLBACK_ID, user_id=ALICE)  # AckTimeout if held
        assert gate.arrived.wait(5), "the modal was never opened"
    finally:
        gate.release()
    assert running.sandbox.wait_for_modal(ALICE)["callback_id"] == CALLBACK_ID


def test_shortcut_opens_the_modal_with_current_statuses(running: Running) -> None:
    """The modal shows the first app's domains with their current statuses preselected."""
    running.service.set("Planning", "Forecast", "Loading", by="system")
    view = open_modal(running)
    assert view["title"]["text"] == "Update EPM status"
    assert preselected(view) == {"Actuals": "Pending", "Forecast": "Loading", "Budget": "Pending"}
    assert running.sandbox.wait_for_call("views.open").ok


def test_choosing_an_app_rerenders_the_domain_rows(running: Running) -> None:
    """Picking FCCS updates the modal (with its hash) to FCCS's domains, keeping the message."""
    running.service.set("FCCS", "Consolidation", "Error", by="system")
    view = open_modal(running)
    running.sandbox.block_action(
        view["id"],
        APP_BLOCK,
        APP_ACTION,
        selected_option="1:0",
        typed={MESSAGE_BLOCK: "half-typed note"},
    )
    updated = running.sandbox.wait_for_modal(where=lambda v: "Consolidation" in status_blocks(v))
    assert preselected(updated) == {"Actuals": "Pending", "Consolidation": "Error"}
    call = running.sandbox.wait_for_call("views.update")
    assert call.ok and call.args["hash"] == view["hash"]
    assert "*App*: FCCS" in block_texts(updated["blocks"])[0]
    (message,) = [b for b in updated["blocks"] if b.get("block_id") == MESSAGE_BLOCK]
    assert message["element"]["initial_value"] == "half-typed note"


def test_submission_applies_changed_domains_as_one_batch(running: Running) -> None:
    """Only the domains whose status changed are updated, together, with the message."""
    running.service.set("FCCS", "Actuals", "Loading", "keep me", by="system")
    view = open_modal(running)
    running.sandbox.block_action(view["id"], APP_BLOCK, APP_ACTION, selected_option="1:0")
    view = running.sandbox.wait_for_modal(where=lambda v: "Consolidation" in status_blocks(v))
    rows = status_blocks(view)
    version = running.service.version
    ack = running.sandbox.submit_view(
        view["id"], {rows["Consolidation"]: "OK", MESSAGE_BLOCK: "close done"}
    )
    assert ack.payload in (None, {}) and ack.refusal is None
    assert running.sandbox.open_modals(ALICE) == []
    consolidation = running.service.get("FCCS", "Consolidation")
    assert consolidation.status is Status.OK and consolidation.message == "close done"
    assert consolidation.updated_by == f"slack:{ALICE}"
    assert running.service.get("FCCS", "Actuals").message == "keep me"
    assert running.service.version == version + 1


def test_several_domains_change_in_one_write(running: Running) -> None:
    """Three changed rows become three changes sharing one timestamp and one commit."""
    view = open_modal(running)
    rows = status_blocks(view)
    version = running.service.version
    running.sandbox.submit_view(
        view["id"], {rows["Actuals"]: "OK", rows["Forecast"]: "Warning", rows["Budget"]: "Error"}
    )
    records = running.service.app_board("Planning")
    assert [r.status for r in records] == [Status.OK, Status.WARNING, Status.ERROR]
    assert len({r.updated_at for r in records}) == 1
    # One commit: the three history entries share its version. (The board's version may
    # move on meanwhile: alert delivery records its cursor in commits of its own.)
    entries = list(running.service.store.iter_history_after(version))
    assert sorted(e["domain"] for e in entries) == ["Actuals", "Budget", "Forecast"]
    assert len({e["version"] for e in entries}) == 1


def test_a_too_long_message_is_answered_on_the_message_block(running: Running) -> None:
    """Invalid input keeps the modal open with the error on the right block; nothing changes."""
    view = open_modal(running)
    rows = status_blocks(view)
    ack = running.sandbox.submit_view(view["id"], {rows["Actuals"]: "OK", MESSAGE_BLOCK: "x" * 201})
    assert ack.payload is not None
    assert ack.payload["response_action"] == "errors"
    assert list(ack.payload["errors"]) == [MESSAGE_BLOCK]
    assert "200 characters" in ack.payload["errors"][MESSAGE_BLOCK]
    assert running.sandbox.open_modals(ALICE)
    assert running.service.get("Planning", "Actuals").updated_at is None


def test_submitting_without_a_change_points_at_the_first_row(running: Running) -> None:
    """A submission that changes nothing says so on the first status row."""
    view = open_modal(running)
    ack = running.sandbox.submit_view(view["id"], {MESSAGE_BLOCK: "just a note"})
    assert ack.payload is not None
    assert ack.payload["errors"] == {
        status_blocks(view)[
            "Actuals"
        ]: "Nothing to change: pick a new status for at least one domain."
    }


def with_state(view: dict[str, Any], choices: dict[str, str | None]) -> dict[str, Any]:
    """``view`` as submitted with ``state.values`` holding only ``choices`` (row -> status)."""
    values = {
        block_id: {
            STATUS_ACTION: {
                "type": "static_select",
                "selected_option": None if value is None else {"value": value},
            }
        }
        for block_id, value in choices.items()
    }
    return {**view, "state": {"values": values}}


def test_rows_missing_from_the_submission_count_as_unchanged(running: Running) -> None:
    """A submission whose state.values leaves out untouched rows applies the rows it has."""
    view = open_modal(running)
    rows = status_blocks(view)
    submitted = with_state(view, {rows["Forecast"]: "OK"})
    updates, errors = read_submission(running.service.layout, submitted)
    assert errors == {}
    assert [(u.app, u.domain, u.status) for u in updates] == [("Planning", "Forecast", Status.OK)]


def test_a_row_without_a_choice_counts_as_unchanged(running: Running) -> None:
    """A row sent with no selected option is left alone instead of refused."""
    view = open_modal(running)
    rows = status_blocks(view)
    submitted = with_state(view, {rows["Actuals"]: None, rows["Budget"]: "Error"})
    updates, errors = read_submission(running.service.layout, submitted)
    assert errors == {}
    assert [(u.domain, u.status) for u in updates] == [("Budget", Status.ERROR)]


def test_a_submission_without_any_row_changes_nothing_and_says_so(running: Running) -> None:
    """With no rows in state.values at all, the form answers that nothing changes."""
    view = open_modal(running)
    updates, errors = read_submission(running.service.layout, with_state(view, {}))
    assert updates == []
    first_row = status_blocks(view)["Actuals"]
    assert errors == {first_row: "Nothing to change: pick a new status for at least one domain."}


def test_non_editor_gets_a_notice_instead_of_the_form(make_running: MakeRunning) -> None:
    """A non-editor's shortcut opens a notice without a submit button."""
    running = make_running(EPMPULSE_EDITORS=BOB)
    view = open_modal(running, ALICE)
    assert "submit" not in view or view["submit"] is None
    assert "not allowed to change statuses" in "\n".join(block_texts(view["blocks"]))


def test_non_editor_submission_is_refused_on_the_form(make_running: MakeRunning) -> None:
    """A submission by someone who is not an editor is refused and counted."""
    running = make_running(EPMPULSE_EDITORS=BOB)
    view = open_modal(running, BOB)
    rows = status_blocks(view)
    ack = running.sandbox.submit_view(view["id"], {rows["Budget"]: "Error"}, user_id=ALICE)
    assert ack.payload is not None
    assert "not allowed" in ack.payload["errors"][MESSAGE_BLOCK]
    assert running.service.get("Planning", "Budget").updated_at is None
    refused = running.metrics.registry.get_sample_value(
        "epmpulse_updates_total", {"source": "slack", "result": "not_allowed"}
    )
    assert refused == 1


def test_app_home_shows_the_board_and_a_button(running: Running) -> None:
    """Opening App Home publishes the board with an *Update statuses* button."""
    running.service.set("ARCS", "Reconciliation", "Warning", "3 unmatched", by="system")
    running.sandbox.app_home_opened(ALICE)
    home = running.sandbox.wait_for_home_view(ALICE)
    publish = running.sandbox.wait_for_call("views.publish")  # recorded just after the view
    text = "\n".join(block_texts(home["blocks"]))
    assert ":large_yellow_circle: ARCS" in text
    assert "*Reconciliation* — Warning · 3 unmatched" in text
    buttons = [e for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["Update statuses"]
    assert publish.args["user_id"] == ALICE


def test_app_home_button_opens_the_same_modal(running: Running) -> None:
    """The Home button opens the update modal with the action's trigger_id."""
    running.sandbox.app_home_opened(ALICE)
    home = running.sandbox.wait_for_home_view(ALICE)
    actions = next(b for b in home["blocks"] if b["type"] == "actions")
    action_id = actions["elements"][0]["action_id"]
    running.sandbox.block_action(home["id"], actions["block_id"], action_id, user_id=ALICE)
    view = running.sandbox.wait_for_modal(ALICE)
    assert view["callback_id"] == CALLBACK_ID
    assert set(status_blocks(view)) == {"Actuals", "Forecast", "Budget"}
