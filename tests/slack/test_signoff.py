"""Four-eyes sign-off over the Slack sandbox (SPEC §18): request, buttons, decisions."""

from __future__ import annotations

import threading

import pytest

from bot.model import Status
from bot.sandbox.slack import PostedMessage, SlackSandbox
from bot.slack.modal import APP_ACTION, APP_BLOCK, CALLBACK_ID, MESSAGE_BLOCK
from bot.slack.signoff import (
    APPROVE_ACTION,
    REASON_BLOCK,
    REJECT_ACTION,
    REJECT_VIEW,
)
from bot.slack.signoff_outbox import SignOffOutbox
from tests.slack.conftest import (
    ALERT_CHANNEL,
    ALICE,
    BOB,
    MakeRunning,
    Running,
    alerts_client,
    block_texts,
)

CAROL = "U0CAROL"  # an editor, not an approver
DAVE = "U0DAVE"  # a second approver, named directly
APPROVERS_GROUP = "S0FINCTRL"

ESTATE = f"""
apps:
  Planning: {{domains: [Actuals, Forecast]}}
  FCCS: {{domains: [Actuals, Consolidation]}}
close:
  sign_off:
    domains: [FCCS/Consolidation]
    approvers: [{APPROVERS_GROUP}, {DAVE}]
"""


@pytest.fixture
def signing(make_running: MakeRunning, sandbox: SlackSandbox) -> Running:
    """The Slack part with FCCS/Consolidation under sign-off; ALICE and BOB approve (group)."""
    sandbox.add_usergroup(APPROVERS_GROUP, [ALICE, BOB])
    return make_running(ESTATE, SLACK_CHANNEL_ID=ALERT_CHANNEL)


@pytest.fixture
def outbox(signing: Running) -> SignOffOutbox:
    """The leader's sign-off sender, driven by hand (one tick per ``run_once``)."""
    return SignOffOutbox(signing.service, alerts_client(signing.config), ALERT_CHANNEL)


def requests_posted(sandbox: SlackSandbox) -> list[PostedMessage]:
    """The sign-off request messages in the alert channel."""
    return [
        m
        for m in sandbox.messages(ALERT_CHANNEL)
        if any("Four-eyes sign-off" in t for t in block_texts(m.blocks or []))
    ]


def text_of(message: PostedMessage) -> str:
    """Every text of a message's blocks."""
    return "\n".join(block_texts(message.blocks or []))


def action_ids(message: PostedMessage) -> list[str]:
    """The action ids of the message's buttons."""
    return [
        e["action_id"]
        for b in message.blocks or []
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def click(signing: Running, action: str, user: str, message: PostedMessage) -> str:
    """Click ``action`` on the current version of ``message``; the ephemeral reply's text."""
    sandbox = signing.sandbox
    before = len(sandbox.responses())
    current = sandbox.messages(ALERT_CHANNEL)
    latest = next(m for m in current if m.ts == message.ts)
    sandbox.message_action(ALERT_CHANNEL, latest.ts, action, user_id=user)
    post = sandbox.wait_for_response(count=before + 1)
    assert post.body["response_type"] == "ephemeral"
    assert post.body.get("replace_original") is False
    return str(post.body["text"])


def requested(signing: Running, outbox: SignOffOutbox, user: str = CAROL) -> PostedMessage:
    """``user`` sets FCCS/Consolidation OK; the request is posted; the message."""
    reply = signing.reply("status FCCS Consolidation ok eliminations tied out", user=user)
    assert "OK awaiting approval" in reply
    assert outbox.run_once() is True
    (message,) = requests_posted(signing.sandbox)
    return message


def test_an_ok_on_a_sign_off_domain_is_a_request_not_a_change(signing: Running) -> None:
    """The slash command commits pending_approval; status and history stay as they were."""
    signing.service.set("FCCS", "Consolidation", "Loading", by="system")
    reply = signing.reply("status FCCS Consolidation ok tied out", user=CAROL)
    assert "OK awaiting approval" in reply and "stays *Loading*" in reply

    record = signing.service.get("FCCS", "Consolidation")
    assert record.status is Status.LOADING
    assert record.pending_approval is not None
    assert (record.pending_approval.by, record.pending_approval.message) == (
        f"slack:{CAROL}",
        "tied out",
    )
    assert [e.new_status for e in signing.service.history("FCCS", "Consolidation")] == [
        Status.LOADING
    ]
    # Other domains are not under sign-off.
    signing.reply("status FCCS Actuals ok", user=CAROL)
    assert signing.service.get("FCCS", "Actuals").status is Status.OK


def test_the_request_is_posted_once_with_approve_and_reject_buttons(
    signing: Running, outbox: SignOffOutbox
) -> None:
    """One message in the channel names the domain, requester and message, with two buttons."""
    message = requested(signing, outbox)
    assert outbox.run_once() is True  # a second tick posts nothing more
    assert len(requests_posted(signing.sandbox)) == 1
    assert action_ids(message) == [APPROVE_ACTION, REJECT_ACTION]
    text = text_of(message)
    assert "FCCS / Consolidation" in text and f"<@{CAROL}>" in text
    assert "eliminations tied out" in text


def test_an_approver_approves_from_the_message(signing: Running, outbox: SignOffOutbox) -> None:
    """Approve commits OK with approved_by; the message then says who approved, no buttons."""
    message = requested(signing, outbox)
    reply = click(signing, APPROVE_ACTION, BOB, message)
    assert "You signed off *FCCS / Consolidation*" in reply

    record = signing.service.get("FCCS", "Consolidation")
    assert (record.status, record.approved_by, record.updated_by) == (
        Status.OK,
        f"slack:{BOB}",
        f"slack:{CAROL}",
    )
    assert record.pending_approval is None and record.message == "eliminations tied out"
    (entry, *_) = signing.service.history("FCCS", "Consolidation")
    assert (entry.new_status, entry.by, entry.approved_by) == (
        Status.OK,
        f"slack:{CAROL}",
        f"slack:{BOB}",
    )

    assert outbox.run_once() is True
    (updated,) = requests_posted(signing.sandbox)
    assert updated.ts == message.ts and updated.edited
    assert action_ids(updated) == []
    assert f"*Approved* by <@{BOB}>" in text_of(updated)
    assert signing.service.meta("signoff.requests") == {}  # finished requests are dropped


@pytest.mark.parametrize(
    ("requester", "clicker", "refusal"),
    [
        (ALICE, ALICE, "You asked for this OK yourself"),  # an approver, but the requester
        (ALICE, CAROL, "Only the sign-off approvers"),  # not an approver
    ],
)
def test_self_approval_and_non_approvers_are_refused(
    signing: Running, outbox: SignOffOutbox, requester: str, clicker: str, refusal: str
) -> None:
    """A refused click gets a plain reply and changes nothing, for Approve and Reject."""
    message = requested(signing, outbox, user=requester)
    before = signing.service.get("FCCS", "Consolidation")
    for action in (APPROVE_ACTION, REJECT_ACTION):
        assert refusal in click(signing, action, clicker, message)
    assert signing.service.get("FCCS", "Consolidation") == before
    assert signing.sandbox.open_modals(clicker) == []
    assert outbox.run_once() is True
    assert action_ids(requests_posted(signing.sandbox)[0]) == [APPROVE_ACTION, REJECT_ACTION]


def test_an_approver_named_by_id_approves(signing: Running, outbox: SignOffOutbox) -> None:
    """Approvers are usergroups (resolved as editors are) or user ids."""
    message = requested(signing, outbox, user=BOB)
    assert "You signed off" in click(signing, APPROVE_ACTION, DAVE, message)
    assert signing.service.get("FCCS", "Consolidation").approved_by == f"slack:{DAVE}"


def test_reject_asks_why_keeps_the_status_and_dms_the_requester(
    signing: Running, outbox: SignOffOutbox
) -> None:
    """Reject opens a modal; its reason goes to the requester; the status stays."""
    signing.service.set("FCCS", "Consolidation", "Warning", "variance", by="system")
    message = requested(signing, outbox)
    signing.sandbox.message_action(ALERT_CHANNEL, message.ts, REJECT_ACTION, user_id=BOB)
    modal = signing.sandbox.wait_for_modal(BOB)
    assert modal["callback_id"] == REJECT_VIEW
    ack = signing.sandbox.submit_view(modal["id"], {REASON_BLOCK: "IC mismatch of 4k"}, BOB)
    assert ack.payload is None  # closed: accepted

    record = signing.service.get("FCCS", "Consolidation")
    assert (record.status, record.message, record.pending_approval) == (
        Status.WARNING,
        "variance",
        None,
    )
    assert outbox.run_once() is True
    dms = [m for m in signing.sandbox.messages() if m.channel in (CAROL, "D" + CAROL[1:])]
    assert len(dms) == 1 and "IC mismatch of 4k" in text_of(dms[0])
    assert f"<@{BOB}>" in text_of(dms[0])
    (updated,) = requests_posted(signing.sandbox)
    assert "*Rejected* by" in text_of(updated) and "IC mismatch of 4k" in text_of(updated)
    assert action_ids(updated) == []
    assert outbox.run_once() is True
    assert len([m for m in signing.sandbox.messages() if m.channel in (CAROL, "D0CAROL")]) == 1


def test_another_change_cancels_the_request_and_a_late_click_is_told(
    signing: Running, outbox: SignOffOutbox
) -> None:
    """Any other change cancels; the message says so; clicking it then changes nothing."""
    message = requested(signing, outbox)
    signing.reply("status FCCS Consolidation error rerun needed", user=CAROL)
    record = signing.service.get("FCCS", "Consolidation")
    assert (record.status, record.pending_approval) == (Status.ERROR, None)
    # Clicked before the message was updated: the buttons are still there.
    reply = click(signing, APPROVE_ACTION, BOB, message)
    assert f"was cancelled already (by {CAROL})" in reply
    assert signing.service.get("FCCS", "Consolidation").status is Status.ERROR

    assert outbox.run_once() is True
    (updated,) = requests_posted(signing.sandbox)
    assert "*Cancelled*" in text_of(updated) and action_ids(updated) == []


def test_a_newer_ok_request_replaces_the_pending_one(
    signing: Running, outbox: SignOffOutbox
) -> None:
    """A second OK cancels the first request; only the newest can be approved."""
    first = requested(signing, outbox)
    signing.reply("status FCCS Consolidation ok second try", user=BOB)
    assert "was cancelled already" in click(signing, APPROVE_ACTION, DAVE, first)
    assert outbox.run_once() is True
    messages = requests_posted(signing.sandbox)
    assert len(messages) == 2
    assert "*Cancelled*" in text_of(messages[0])
    assert "You signed off" in click(signing, APPROVE_ACTION, DAVE, messages[1])
    assert signing.service.get("FCCS", "Consolidation").message == "second try"


def test_two_approvers_clicking_at_once_commit_one_approval(
    signing: Running, outbox: SignOffOutbox
) -> None:
    """Two approvers race on the same request: one approval, the other told it is decided."""
    message = requested(signing, outbox)
    sandbox = signing.sandbox
    before = len(sandbox.responses())
    start = threading.Barrier(2)

    def click_now(user: str) -> None:
        start.wait()
        sandbox.message_action(ALERT_CHANNEL, message.ts, APPROVE_ACTION, user_id=user)

    threads = [threading.Thread(target=click_now, args=(u,)) for u in (BOB, DAVE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    sandbox.wait_for_response(count=before + 2)
    texts = sorted(str(p.body["text"]) for p in sandbox.responses()[before:])
    assert sum("You signed off" in t for t in texts) == 1
    assert sum("was approved already" in t for t in texts) == 1

    oks = [e for e in signing.service.history("FCCS", "Consolidation") if e.approved_by]
    assert len(oks) == 1
    assert oks[0].approved_by in (f"slack:{BOB}", f"slack:{DAVE}")
    assert signing.service.get("FCCS", "Consolidation").approved_by == oks[0].approved_by


def test_one_approver_clicking_twice_commits_one_approval(
    signing: Running, outbox: SignOffOutbox
) -> None:
    """The second click of the same approver is told the request was approved already."""
    message = requested(signing, outbox)
    assert "You signed off" in click(signing, APPROVE_ACTION, BOB, message)
    assert "was approved already" in click(signing, APPROVE_ACTION, BOB, message)
    history = signing.service.history("FCCS", "Consolidation")
    assert [e.approved_by for e in history] == [f"slack:{BOB}"]


def test_app_home_shows_an_approver_what_waits_for_them(
    signing: Running, outbox: SignOffOutbox
) -> None:
    """An approver's Home tab lists the request with buttons that decide it; others see none."""
    requested(signing, outbox)
    sandbox = signing.sandbox
    sandbox.app_home_opened(BOB)
    home = sandbox.wait_for_home_view(BOB)
    texts = "\n".join(block_texts(home["blocks"]))
    assert "Waiting for your sign-off* (1)" in texts and "FCCS / Consolidation" in texts

    sandbox.app_home_opened(CAROL)  # the requester, not an approver
    carol_home = sandbox.wait_for_home_view(CAROL)
    assert "Waiting for your sign-off" not in "\n".join(block_texts(carol_home["blocks"]))

    block = next(b for b in home["blocks"] if b.get("block_id", "").startswith("signoff_actions_"))
    before = len(sandbox.messages())
    sandbox.block_action(home["id"], block["block_id"], APPROVE_ACTION, user_id=BOB)
    dm = sandbox.wait_for_call("chat.postMessage", where=lambda c: c.args.get("channel") == BOB)
    assert "You signed off" in str(dm.args.get("text"))
    assert len(sandbox.messages()) > before
    assert signing.service.get("FCCS", "Consolidation").approved_by == f"slack:{BOB}"


def test_a_request_pending_across_a_restart_is_posted_once_and_decided(
    make_running: MakeRunning, sandbox: SlackSandbox
) -> None:
    """A request made before a restart is posted once; a click after the restart decides it."""
    sandbox.add_usergroup(APPROVERS_GROUP, [ALICE, BOB])
    first = make_running(ESTATE, SLACK_CHANNEL_ID=ALERT_CHANNEL)
    first.reply("status FCCS Consolidation ok", user=CAROL)
    outbox = SignOffOutbox(first.service, alerts_client(first.config), ALERT_CHANNEL)
    assert outbox.run_once() is True
    first.part.stop()

    second = make_running(ESTATE, SLACK_CHANNEL_ID=ALERT_CHANNEL)
    again = SignOffOutbox(second.service, alerts_client(second.config), ALERT_CHANNEL)
    assert again.run_once() is True
    (message,) = requests_posted(sandbox)  # not posted again
    assert "You signed off" in click(second, APPROVE_ACTION, BOB, message)
    assert again.run_once() is True
    (updated,) = requests_posted(sandbox)
    assert "*Approved*" in text_of(updated)


def test_an_ok_from_the_modal_waits_and_its_author_is_told_in_a_dm(signing: Running) -> None:
    """The modal closes; the OK is a request; the submitter gets a DM saying it waits."""
    sandbox = signing.sandbox
    sandbox.open_shortcut(CALLBACK_ID, user_id=CAROL)
    view = sandbox.wait_for_modal(CAROL)
    sandbox.block_action(view["id"], APP_BLOCK, APP_ACTION, selected_option="1:0")
    view = sandbox.wait_for_modal(CAROL, where=lambda v: "Consolidation" in str(v["blocks"]))
    rows = {
        b["label"]["text"]: b["block_id"]
        for b in view["blocks"]
        if b["type"] == "input" and b["block_id"] != MESSAGE_BLOCK
    }
    ack = sandbox.submit_view(view["id"], {rows["Consolidation"]: "OK", rows["Actuals"]: "OK"})
    assert ack.payload in (None, {})
    assert signing.service.get("FCCS", "Actuals").status is Status.OK
    record = signing.service.get("FCCS", "Consolidation")
    assert record.status is Status.PENDING and record.pending_approval is not None
    dm = sandbox.wait_for_call("chat.postMessage", where=lambda c: c.args.get("channel") == CAROL)
    (message,) = [m for m in sandbox.messages() if m.ts == dm.response["ts"]]
    assert text_of(message).startswith(
        ":hourglass_flowing_sand: OK awaiting approval for *FCCS / Consolidation*: "
    )
