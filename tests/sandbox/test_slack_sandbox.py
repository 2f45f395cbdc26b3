"""The Slack sandbox, driven by the real slack_sdk WebClient and a real slack_bolt App.

Deliberately invalid payloads are plain dicts: ``slack_sdk.models`` would refuse to build
them, and these tests are about the sandbox refusing them the way Slack does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.error import URLError

import pytest
from slack_bolt import Ack as BoltAck
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View
from slack_sdk.webhook import WebhookClient
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from bot.sandbox.slack import AckTimeout, SlackSandbox
from tests.conftest import FakeClock

# slack_sdk warns when a message has blocks but no text; these tests send such messages on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")
USER = "U0ALICE"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep loopback traffic away from any proxy configured on the machine."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def refusal(call: Any, *args: Any, **kwargs: Any) -> SlackApiError:
    """Call a WebClient method that must fail and return the error."""
    with pytest.raises(SlackApiError) as caught:
        call(*args, **kwargs)
    return caught.value


def modal(title: str = "Update statuses", blocks: list[Any] | None = None) -> dict[str, Any]:
    """A minimal valid modal as a dict (the shape a test then breaks on purpose)."""
    return {
        "type": "modal",
        "callback_id": "update_modal",
        "title": {"type": "plain_text", "text": title},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks if blocks is not None else [section("Pick statuses")],
    }


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    """A section block dict."""
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def select_block(block_id: str, values: list[str]) -> dict[str, Any]:
    """An input block with a static_select offering ``values``."""
    options = [{"text": {"type": "plain_text", "text": v}, "value": v} for v in values]
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": block_id},
        "element": {"type": "static_select", "action_id": "choice", "options": options},
    }


def status_modal() -> View:
    """The modal the test app opens, built with slack_sdk.models like the real app."""
    statuses = ["OK", "Loading", "Error"]
    return View(
        type="modal",
        callback_id="update_modal",
        title="Update Planning",
        submit="Apply",
        close="Cancel",
        private_metadata="Planning",
        blocks=[
            InputBlock(
                block_id="actuals",
                label="Actuals",
                element=StaticSelectElement(
                    action_id="status",
                    options=[Option(text=s, value=s) for s in statuses],
                ),
            ),
            InputBlock(
                block_id="message",
                label="Message",
                optional=True,
                element=PlainTextInputElement(action_id="text"),
            ),
        ],
    )


def home_view() -> View:
    """The App Home the test app publishes: a line of text and a button."""
    return View(
        type="home",
        blocks=[
            SectionBlock(block_id="board", text="*Board*"),
            ActionsBlock(
                block_id="home_actions",
                elements=[ButtonElement(text="Update", action_id="open_modal", value="Planning")],
            ),
        ],
    )


# -- Web API: authentication -------------------------------------------------------------


def test_auth_test_answers_for_the_bot_token(client: WebClient) -> None:
    """auth.test with the bot token names the team, bot user and bot id."""
    answer = client.auth_test()
    assert answer["ok"] is True
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == (
        "T0SANDBOX",
        "U0SANDBOXBOT",
        "B0SANDBOXBOT",
    )


def test_an_unknown_token_is_refused_with_invalid_auth(sandbox: SlackSandbox) -> None:
    """A token the sandbox never issued gets invalid_auth."""
    stranger = WebClient(token="xoxb-someone-else", base_url=sandbox.api_url)
    assert refusal(stranger.auth_test).response["error"] == "invalid_auth"


def test_a_missing_token_is_refused_with_not_authed(sandbox: SlackSandbox) -> None:
    """A request without any token gets not_authed."""
    anonymous = WebClient(base_url=sandbox.api_url)
    assert refusal(anonymous.chat_postMessage, channel="C1", text="x").response["error"] == (
        "not_authed"
    )


def test_each_token_only_works_for_its_own_methods(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """The app token opens connections only; the bot token cannot open them."""
    app_client = WebClient(token=sandbox.app_token, base_url=sandbox.api_url)
    assert refusal(app_client.auth_test).response["error"] == "not_allowed_token_type"
    bot_open = refusal(client.apps_connections_open, app_token=sandbox.bot_token)
    assert bot_open.response["error"] == "not_allowed_token_type"


def test_an_unknown_method_is_refused(client: WebClient) -> None:
    """A method Slack does not have answers unknown_method."""
    assert refusal(client.api_call, "chat.teleport").response["error"] == "unknown_method"


def test_every_call_is_recorded_with_its_arguments_token_and_status(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """Calls are recorded, refusals included, with parsed arguments and the token used."""
    client.chat_postMessage(channel="C0GENERAL", text="hello")
    refusal(client.chat_postMessage, channel="C0GENERAL")
    posted, refused = sandbox.calls("chat.postMessage")
    assert (posted.args["text"], posted.token, posted.status, posted.ok) == (
        "hello",
        sandbox.bot_token,
        200,
        True,
    )
    assert (refused.error, refused.ok) == ("no_text", False)
    assert [m.text for m in sandbox.messages("C0GENERAL")] == ["hello"]


# -- Web API: Socket Mode URLs -----------------------------------------------------------


def test_a_connection_url_says_hello_once_and_cannot_be_reused(sandbox: SlackSandbox) -> None:
    """apps.connections.open gives a ws:// URL that greets with hello and works only once."""
    app_client = WebClient(token=sandbox.app_token, base_url=sandbox.api_url)
    url = app_client.apps_connections_open(app_token=sandbox.app_token)["url"]
    assert url.startswith("ws://127.0.0.1:")
    with connect(url, open_timeout=5) as websocket:
        hello = json.loads(websocket.recv(timeout=5))
        assert (hello["type"], hello["connection_info"]["app_id"]) == ("hello", "A0SANDBOX")
    with pytest.raises(InvalidStatus):
        connect(url, open_timeout=5)


def test_an_envelope_without_an_ack_raises_ack_timeout(sandbox: SlackSandbox) -> None:
    """A client that never acks makes send_command fail after its timeout instead of hanging."""
    app_client = WebClient(token=sandbox.app_token, base_url=sandbox.api_url)
    url = app_client.apps_connections_open(app_token=sandbox.app_token)["url"]
    with connect(url, open_timeout=5) as websocket:
        sandbox.wait_connected(timeout=5)
        with pytest.raises(AckTimeout):
            sandbox.send_command("status", timeout=0.5)
        assert json.loads(websocket.recv(timeout=5))["type"] == "hello"


# -- Web API: trigger ids ----------------------------------------------------------------


def test_a_trigger_id_opens_one_modal_only(sandbox: SlackSandbox, client: WebClient) -> None:
    """A fresh trigger_id opens a modal once; the second use is exchanged_trigger_id."""
    trigger = sandbox.issue_trigger(USER)
    opened = client.views_open(trigger_id=trigger, view=modal())
    assert sandbox.open_modals(USER)[-1]["id"] == opened["view"]["id"]
    again = refusal(client.views_open, trigger_id=trigger, view=modal())
    assert again.response["error"] == "exchanged_trigger_id"


def test_a_trigger_id_expires_after_its_lifetime() -> None:
    """A trigger_id older than the configured lifetime is expired_trigger_id."""
    clock = FakeClock()
    with SlackSandbox(trigger_ttl=0.2, clock=clock) as short:
        quick = WebClient(token=short.bot_token, base_url=short.api_url)
        trigger = short.issue_trigger(USER)
        clock.advance(0.35)
        assert refusal(quick.views_open, trigger_id=trigger, view=modal()).response["error"] == (
            "expired_trigger_id"
        )


def test_a_made_up_trigger_id_is_invalid(client: WebClient) -> None:
    """A trigger_id the sandbox never issued is invalid_trigger_id."""
    made_up = refusal(client.views_open, trigger_id="1.2.abc", view=modal())
    assert made_up.response["error"] == "invalid_trigger_id"


# -- Web API: modal limits ---------------------------------------------------------------

TOO_LONG_SECTION = [section("x" * 3001)]
TOO_LONG_HEADER = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
TOO_MANY_OPTIONS = [select_block("pick", [f"v{i}" for i in range(101)])]
DUPLICATE_IDS = [section("a", block_id="same"), section("b", block_id="same")]


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        pytest.param(modal(title="T" * 25), "/view/title/text", id="title-25-chars"),
        pytest.param(modal(blocks=[section("x")] * 101), "/view/blocks", id="101-blocks"),
        pytest.param(modal(blocks=TOO_LONG_SECTION), "/view/blocks/0/text/text", id="section"),
        pytest.param(modal(blocks=TOO_LONG_HEADER), "/view/blocks/0/text/text", id="header"),
        pytest.param(
            modal(blocks=TOO_MANY_OPTIONS), "/view/blocks/0/element/options", id="101-options"
        ),
        pytest.param(modal(blocks=DUPLICATE_IDS), "/view/blocks/1/block_id", id="duplicate-id"),
        pytest.param(
            {**modal(blocks=[select_block("pick", ["a"])])}, "/view/submit", id="input-no-submit"
        ),
    ],
)
def test_a_modal_over_a_block_kit_limit_is_refused_with_a_json_pointer(
    sandbox: SlackSandbox, client: WebClient, view: dict[str, Any], pointer: str
) -> None:
    """Each Block Kit limit gives invalid_arguments naming the offending field, trigger unused."""
    trigger = sandbox.issue_trigger(USER)
    refused = refusal(client.views_open, trigger_id=trigger, view=view)
    assert refused.response["error"] == "invalid_arguments"
    messages = refused.response["response_metadata"]["messages"]
    assert any(m.startswith("[ERROR] ") and f"[json-pointer:{pointer}]" in m for m in messages)
    assert client.views_open(trigger_id=trigger, view=modal())["ok"] is True


def test_an_opened_modal_gets_ids_a_hash_and_generated_block_ids(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """views.open answers the full view: id, hash, root id and block_ids Slack filled in."""
    answer = client.views_open(trigger_id=sandbox.issue_trigger(USER), view=status_modal())
    view = answer["view"]
    assert view["id"].startswith("V") and view["hash"] and view["root_view_id"] == view["id"]
    assert [b["block_id"] for b in view["blocks"]] == ["actuals", "message"]
    assert sandbox.view(view["id"]) == view


def test_views_update_needs_the_current_hash(sandbox: SlackSandbox, client: WebClient) -> None:
    """An update with a stale hash is hash_conflict; with the current hash it succeeds."""
    view = client.views_open(trigger_id=sandbox.issue_trigger(USER), view=modal())["view"]
    updated = client.views_update(view_id=view["id"], hash=view["hash"], view=modal("Step 2"))
    stale = refusal(client.views_update, view_id=view["id"], hash=view["hash"], view=modal("3"))
    assert stale.response["error"] == "hash_conflict"
    assert sandbox.view(view["id"]) == updated["view"]
    assert updated["view"]["title"]["text"] == "Step 2"
    assert updated["view"]["hash"] != view["hash"]


def test_views_update_of_an_unknown_view_is_not_found(client: WebClient) -> None:
    """Updating a view id Slack never issued answers not_found."""
    assert refusal(client.views_update, view_id="VNOPE", view=modal()).response["error"] == (
        "not_found"
    )


def test_views_publish_keeps_the_latest_home_view_per_user(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """views.publish stores the user's home view under a stable id."""
    first = client.views_publish(user_id=USER, view=home_view())["view"]
    second = client.views_publish(user_id=USER, view=home_view(), hash=first["hash"])["view"]
    assert first["id"] == second["id"]
    assert sandbox.home_view(USER) == second
    assert sandbox.home_view("U0BOB") is None


# -- Web API: messages -------------------------------------------------------------------


def test_a_message_needs_text_or_blocks(client: WebClient) -> None:
    """chat.postMessage, postEphemeral and update without text or blocks answer no_text."""
    assert refusal(client.chat_postMessage, channel="C0GENERAL").response["error"] == "no_text"
    ephemeral = refusal(client.chat_postEphemeral, channel="C0GENERAL", user=USER)
    assert ephemeral.response["error"] == "no_text"
    ts = client.chat_postMessage(channel="C0GENERAL", text="first")["ts"]
    assert refusal(client.chat_update, channel="C0GENERAL", ts=ts).response["error"] == "no_text"


def test_a_message_with_more_than_50_blocks_is_refused(client: WebClient) -> None:
    """51 blocks answer invalid_blocks with Slack's 'no more than 50 items' note."""
    refused = refusal(client.chat_postMessage, channel="C0GENERAL", blocks=[section("x")] * 51)
    assert refused.response["error"] == "invalid_blocks"
    assert refused.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]


def test_blocks_sent_as_a_json_string_in_a_form_body_are_understood(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """A form-encoded call with blocks as a JSON string is parsed like Slack parses it."""
    blocks = json.dumps([section("from a form")])
    client.api_call("chat.postMessage", params={"channel": "C0GENERAL", "blocks": blocks})
    assert sandbox.messages()[-1].blocks == [section("from a form")]


def test_chat_update_replaces_a_posted_message(sandbox: SlackSandbox, client: WebClient) -> None:
    """chat.update changes the stored message; an unknown ts is message_not_found."""
    ts = client.chat_postMessage(channel="C0GENERAL", text="before")["ts"]
    client.chat_update(channel="C0GENERAL", ts=ts, text="after")
    assert [(m.text, m.edited) for m in sandbox.messages("C0GENERAL")] == [("after", True)]
    missing = refusal(client.chat_update, channel="C0GENERAL", ts="1.000001", text="x")
    assert missing.response["error"] == "message_not_found"


def test_response_url_posts_are_recorded_and_checked(sandbox: SlackSandbox) -> None:
    """Posts to a response_url are recorded; one without text or blocks is refused."""
    url = sandbox.issue_response_url()
    webhook = WebhookClient(url, timeout=5)
    assert webhook.send(text="done", response_type="ephemeral").status_code == 200
    assert webhook.send_dict({"response_type": "ephemeral"}).status_code == 400
    assert [(r.body.get("text"), r.status) for r in sandbox.responses()] == [
        ("done", 200),
        (None, 400),
    ]


# -- Web API: canvases -------------------------------------------------------------------


def markdown(text: str) -> dict[str, str]:
    """A document_content object."""
    return {"type": "markdown", "markdown": text}


def test_replace_without_a_section_replaces_the_whole_canvas(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """canvases.edit replace with no section_id stores exactly the markdown sent."""
    canvas_id = sandbox.create_canvas("# Old\n\nold text\n")
    board = "# EPM Status\n\n## Planning\n| Domain | Status |\n|---|---|\n| Actuals | OK |\n"
    client.canvases_edit(
        canvas_id=canvas_id, changes=[{"operation": "replace", "document_content": markdown(board)}]
    )
    assert sandbox.canvas_markdown(canvas_id) == board


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        pytest.param([], "invalid_arguments", id="no-change"),
        pytest.param(
            [{"operation": "replace", "document_content": markdown("a")}] * 2,
            "invalid_arguments",
            id="two-changes",
        ),
        pytest.param(
            [{"operation": "overwrite", "document_content": markdown("a")}],
            "invalid_arguments",
            id="unknown-operation",
        ),
        pytest.param(
            [{"operation": "replace", "document_content": {"type": "html", "markdown": "a"}}],
            "invalid_arguments",
            id="not-markdown",
        ),
        pytest.param(
            [{"operation": "replace", "document_content": "# just a string"}],
            "invalid_arguments",
            id="content-not-an-object",
        ),
        pytest.param(
            [{"operation": "replace", "document_content": markdown("#### Too deep\n")}],
            "canvas_editing_failed",
            id="h4-heading",
        ),
    ],
)
def test_canvases_edit_refuses_what_slack_refuses(
    sandbox: SlackSandbox, client: WebClient, changes: list[Any], error: str
) -> None:
    """A malformed change is refused and leaves the canvas untouched."""
    canvas_id = sandbox.create_canvas("# Board\n")
    refused = refusal(client.canvases_edit, canvas_id=canvas_id, changes=changes)
    assert refused.response["error"] == error
    assert sandbox.canvas_markdown(canvas_id) == "# Board\n"


def test_editing_an_unknown_canvas_is_canvas_not_found(client: WebClient) -> None:
    """A valid change to a canvas that does not exist answers canvas_not_found."""
    change = [{"operation": "replace", "document_content": markdown("# x\n")}]
    assert refusal(client.canvases_edit, canvas_id="FNOPE", changes=change).response["error"] == (
        "canvas_not_found"
    )


def test_a_channel_has_at_most_one_channel_canvas(sandbox: SlackSandbox, client: WebClient) -> None:
    """A second channel canvas for the same channel is channel_canvas_already_exists."""
    created = client.conversations_canvases_create(
        channel_id="C0GENERAL", document_content=markdown("# Board\n")
    )
    assert sandbox.channel_canvas_id("C0GENERAL") == created["canvas_id"]
    second = refusal(
        client.conversations_canvases_create, channel_id="C0GENERAL", document_content=markdown("")
    )
    assert second.response["error"] == "channel_canvas_already_exists"
    info = client.conversations_info(channel="C0GENERAL")["channel"]
    assert info["properties"]["canvas"]["file_id"] == created["canvas_id"]


def test_section_lookup_finds_a_heading_that_section_edits_then_target(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """sections.lookup finds h2 sections by text; insert_after and delete act on them."""
    canvas_id = sandbox.create_canvas("# Board\n## Planning\nrows\n## FCCS\nrows\n")
    found = client.canvases_sections_lookup(
        canvas_id=canvas_id, criteria={"section_types": ["h2"], "contains_text": "fccs"}
    )["sections"]
    assert len(found) == 1
    fccs = found[0]["id"]
    client.canvases_edit(
        canvas_id=canvas_id,
        changes=[
            {"operation": "insert_after", "section_id": fccs, "document_content": markdown("x\n")}
        ],
    )
    client.canvases_edit(canvas_id=canvas_id, changes=[{"operation": "delete", "section_id": fccs}])
    assert sandbox.canvas_markdown(canvas_id) == "# Board\n## Planning\nrows\nx\n"


# -- Web API: directory ------------------------------------------------------------------


def test_users_info_describes_a_user_with_their_time_zone(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """users.info returns the configured name and tz; a malformed id is user_not_found."""
    sandbox.add_user("U0BOB", name="bob", tz="Europe/Berlin")
    user = client.users_info(user="U0BOB")["user"]
    assert (user["name"], user["tz"]) == ("bob", "Europe/Berlin")
    assert user["tz_offset"] in (3600, 7200)
    assert refusal(client.users_info, user="not-a-user").response["error"] == "user_not_found"


def test_usergroup_members_come_from_the_sandbox_configuration(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """usergroups.users.list lists configured members; an unknown group is no_such_subteam."""
    sandbox.add_usergroup("S123", ["U1", "U2"])
    assert client.usergroups_users_list(usergroup="S123")["users"] == ["U1", "U2"]
    unknown = refusal(client.usergroups_users_list, usergroup="S999")
    assert unknown.response["error"] == "no_such_subteam"


# -- Web API: rate limits and faults -----------------------------------------------------


def test_a_method_over_its_scaled_tier_gets_429_with_retry_after(client: WebClient) -> None:
    """Past its scaled Tier 3 limit canvases.edit answers 429 until the window has passed."""
    clock = FakeClock()
    with SlackSandbox(rate_scale=0.1, window_seconds=1.0, clock=clock) as limited:
        edits = WebClient(token=limited.bot_token, base_url=limited.api_url)
        canvas_id = limited.create_canvas()
        change = [{"operation": "replace", "document_content": markdown("# n\n")}]
        assert limited.rate_limit("canvases.edit") == 5
        for _ in range(5):
            edits.canvases_edit(canvas_id=canvas_id, changes=change)
        refused = refusal(edits.canvases_edit, canvas_id=canvas_id, changes=change)
        assert (refused.response.status_code, refused.response["error"]) == (429, "ratelimited")
        assert refused.response.headers["Retry-After"] == "1"
        clock.advance(1.05)
        assert edits.canvases_edit(canvas_id=canvas_id, changes=change)["ok"] is True


def test_chat_post_message_is_limited_per_channel(sandbox: SlackSandbox, client: WebClient) -> None:
    """chat.postMessage counts per channel: one busy channel does not block another."""
    sandbox.configure_rate_limits(rate_scale=2 / 60)
    sandbox.add_channel("C0BUSY", "busy")
    sandbox.add_channel("C0QUIET", "quiet")
    for _ in range(2):
        client.chat_postMessage(channel="C0BUSY", text="x")
    assert refusal(client.chat_postMessage, channel="C0BUSY", text="x").response.status_code == 429
    assert client.chat_postMessage(channel="C0QUIET", text="x")["ok"] is True


def test_switching_rate_limits_off_lets_every_call_through(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """With limits disabled even a tiny scale never answers 429."""
    sandbox.configure_rate_limits(rate_scale=0.01, enabled=False)
    assert sandbox.rate_limit("canvases.create") == 1
    for _ in range(5):
        client.canvases_create(title="draft")
    assert [call.status for call in sandbox.calls("canvases.create")] == [200] * 5


def test_an_injected_500_fails_exactly_the_scripted_calls(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """inject(status=500, times=2) breaks the next two calls, then the method works again."""
    sandbox.inject("chat.postMessage", 500, times=2)
    for _ in range(2):
        broken = refusal(client.chat_postMessage, channel="C0GENERAL", text="x")
        assert broken.response.status_code == 500
    assert client.chat_postMessage(channel="C0GENERAL", text="x")["ok"] is True
    assert [c.status for c in sandbox.calls("chat.postMessage")] == [500, 500, 200]


def test_an_injected_429_carries_the_scripted_retry_after(
    client: WebClient, sandbox: SlackSandbox
) -> None:
    """inject(429, retry_after=7) answers ratelimited with Retry-After: 7."""
    sandbox.inject("canvases.edit", 429, retry_after=7)
    refused = refusal(client.canvases_edit, canvas_id="F1", changes=[])
    assert (refused.response.status_code, refused.response.headers["Retry-After"]) == (429, "7")


def test_an_injected_delay_slows_the_call_down(sandbox: SlackSandbox, client: WebClient) -> None:
    """inject(status=None, delay=0.3) answers normally, after the recorded delay."""
    sandbox.inject("auth.test", None, delay=0.3)
    assert client.auth_test()["ok"] is True
    assert client.auth_test()["ok"] is True
    assert [c.delay for c in sandbox.calls("auth.test")] == [0.3, 0.0]


def test_stop_closes_a_connected_websocket_and_both_servers() -> None:
    """stop() closes live WebSockets and stops both servers."""
    running = SlackSandbox().start()
    client = WebClient(token=running.app_token, base_url=running.api_url, timeout=2)
    url = client.apps_connections_open(app_token=running.app_token)["url"]
    with connect(url, open_timeout=5) as websocket:
        running.wait_connected(timeout=5)
        running.stop()
        assert running.connection_count == 0
        websocket.recv(timeout=5)  # hello
        with pytest.raises(ConnectionClosed):
            websocket.recv(timeout=5)
    with pytest.raises(URLError):
        client.auth_test()


# -- a real Bolt app over Socket Mode ----------------------------------------------------


class BoltRig:
    """A sandbox with a real Bolt app connected through SocketModeHandler."""

    def __init__(self) -> None:
        self.sandbox = SlackSandbox().start()
        self.submissions: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        client = WebClient(token=self.sandbox.bot_token, base_url=self.sandbox.api_url, timeout=5)
        self.app = App(client=client)
        self._register(self.app)
        self.handler = SocketModeHandler(self.app, self.sandbox.app_token)

    def _register(self, app: App) -> None:
        @app.command("/epmpulse")
        def command(ack: BoltAck, command: dict[str, Any]) -> None:
            self.commands.append(command)
            ack(f"echo: {command['text']}")

        @app.shortcut("epmpulse_update")
        def shortcut(ack: BoltAck, body: dict[str, Any], client: WebClient) -> None:
            ack()
            client.views_open(trigger_id=body["trigger_id"], view=status_modal())

        @app.action("open_modal")
        def open_modal(ack: BoltAck, body: dict[str, Any], client: WebClient) -> None:
            ack()
            client.views_open(trigger_id=body["trigger_id"], view=status_modal())

        @app.event("app_home_opened")
        def home(event: dict[str, Any], client: WebClient) -> None:
            client.views_publish(user_id=event["user"], view=home_view())

        @app.view("update_modal")
        def submitted(ack: BoltAck, view: dict[str, Any]) -> None:
            values = view["state"]["values"]
            failed = values["actuals"]["status"]["selected_option"]["value"] == "Error"
            if failed and not values["message"]["text"]["value"]:
                ack(response_action="errors", errors={"message": "Say what failed"})
                return
            ack()
            self.submissions.append(values)

    def close(self) -> None:
        self.handler.close()
        self.sandbox.stop()


@pytest.fixture(scope="module")
def rig() -> Iterator[BoltRig]:
    """One connected Bolt app for the Socket Mode tests (closing a client takes ~3 s)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in PROXY_VARIABLES:
            patch.delenv(name, raising=False)
        built = BoltRig()
        built.handler.connect()
        built.sandbox.wait_connected(timeout=5)
        yield built
        built.close()


def test_bolt_starts_with_auth_test_and_connects_over_socket_mode(rig: BoltRig) -> None:
    """Bolt calls auth.test with the bot token and opens a connection with the app token."""
    assert rig.sandbox.calls("auth.test")[0].token == rig.sandbox.bot_token
    assert rig.sandbox.calls("apps.connections.open")[0].token == rig.sandbox.app_token
    assert rig.sandbox.connection_count >= 1


def test_a_slash_command_is_acked_with_a_measured_latency(rig: BoltRig) -> None:
    """A slash command reaches the app and its ack comes back with the time it took."""
    ack = rig.sandbox.send_command("status Planning")
    assert ack.payload == {"text": "echo: status Planning"}
    assert ack.latency > 0
    assert ack.envelope_id


def test_a_slash_command_can_leave_out_the_response_url(rig: BoltRig) -> None:
    """With with_response_url=False the payload has no response_url; by default it has one."""
    rig.sandbox.send_command("no url", with_response_url=False)
    rig.sandbox.send_command("with url")
    without, with_url = rig.commands[-2:]
    assert without["text"] == "no url" and "response_url" not in without
    assert with_url["response_url"].startswith(rig.sandbox.base_url + "/response/")


def test_a_shortcut_modal_submission_reaches_the_app_and_closes_the_modal(rig: BoltRig) -> None:
    """The shortcut opens the modal; a submission with a chosen status closes it."""
    user = "U0CAROL"
    assert rig.sandbox.open_shortcut("epmpulse_update", user_id=user).payload is None
    view = rig.sandbox.wait_for_modal(user)
    ack = rig.sandbox.submit_view(view["id"], {"actuals": "OK", "message": "loaded"})
    assert ack.payload is None and ack.refusal is None
    assert rig.submissions[-1]["actuals"]["status"]["selected_option"]["value"] == "OK"
    assert rig.submissions[-1]["message"]["text"]["value"] == "loaded"
    assert rig.sandbox.open_modals(user) == []


def test_a_submission_answered_with_errors_keeps_the_modal_open(rig: BoltRig) -> None:
    """response_action errors on an input block leaves the modal open for the user."""
    user = "U0DAVE"
    rig.sandbox.open_shortcut("epmpulse_update", user_id=user)
    view = rig.sandbox.wait_for_modal(user)
    ack = rig.sandbox.submit_view(view["id"], {"actuals": "Error"})
    assert ack.payload == {"response_action": "errors", "errors": {"message": "Say what failed"}}
    assert ack.refusal is None
    assert [v["id"] for v in rig.sandbox.open_modals(user)] == [view["id"]]


def test_submit_view_refuses_a_choice_the_modal_does_not_offer(rig: BoltRig) -> None:
    """Tests cannot submit values Slack's client could never produce."""
    user = "U0ERIN"
    rig.sandbox.open_shortcut("epmpulse_update", user_id=user)
    view = rig.sandbox.wait_for_modal(user)
    with pytest.raises(ValueError, match="no option"):
        rig.sandbox.submit_view(view["id"], {"actuals": "Exploded"})
    with pytest.raises(ValueError, match="required"):
        rig.sandbox.submit_view(view["id"], {"message": "no status chosen"})


def test_app_home_opened_publishes_a_home_whose_button_opens_the_modal(rig: BoltRig) -> None:
    """App Home gets published on app_home_opened and its button opens the modal."""
    user = "U0FRANK"
    rig.sandbox.app_home_opened(user)
    home = rig.sandbox.wait_for_home_view(user)
    rig.sandbox.block_action(home["id"], "home_actions", "open_modal", user_id=user)
    assert rig.sandbox.wait_for_modal(user)["callback_id"] == "update_modal"


def test_the_app_reconnects_after_a_disconnect_and_still_gets_commands(rig: BoltRig) -> None:
    """After disconnect the client opens a new connection and the next command is acked."""
    opened = rig.sandbox.connections_opened
    rig.sandbox.disconnect(timeout=5)
    assert rig.sandbox.connections_opened == opened + 1
    ack = rig.sandbox.send_command("after reconnect")
    assert ack.payload == {"text": "echo: after reconnect"}
    assert len(rig.sandbox.calls("apps.connections.open")) >= 2


def _button_with(confirm: dict[str, Any]) -> list[dict[str, Any]]:
    """A section whose button asks for confirmation with ``confirm``."""
    button = {
        "type": "button",
        "action_id": "run",
        "text": {"type": "plain_text", "text": "Run"},
        "value": "x",
        "confirm": confirm,
    }
    return [{**section("Actuals"), "accessory": button}]


def _plain(text: str) -> dict[str, str]:
    """A plain_text object."""
    return {"type": "plain_text", "text": text}


def test_a_confirmation_dialog_is_checked_like_slack_does(client: WebClient) -> None:
    """A button's confirm object needs a title (100), text (300), confirm and deny (30)."""
    good = {
        "title": _plain("Start?"),
        "text": _plain("Sure?"),
        "confirm": _plain("Run"),
        "deny": _plain("Cancel"),
    }
    home = {"type": "home", "blocks": _button_with(good)}
    assert client.views_publish(user_id=USER, view=home)["ok"] is True
    for key, text, limit in (("title", "T", 100), ("text", "x", 300), ("deny", "d", 30)):
        bad = {**good, key: _plain(text * (limit + 1))}
        refused = refusal(
            client.views_publish, user_id=USER, view={"type": "home", "blocks": _button_with(bad)}
        )
        messages = refused.response["response_metadata"]["messages"]
        assert any(f"/accessory/confirm/{key}/text]" in m for m in messages), messages


def test_a_click_on_a_message_without_that_button_is_refused(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """message_action names what is missing: the message, or the button in it."""
    ts = client.chat_postMessage(channel="C0GENERAL", text="no buttons here")["ts"]
    with pytest.raises(ValueError, match="has no element with action_id 'hold'"):
        sandbox.message_action("C0GENERAL", ts, "hold")
    with pytest.raises(ValueError, match=r"no message 1\.0 in C0GENERAL"):
        sandbox.message_action("C0GENERAL", "1.0", "hold")
