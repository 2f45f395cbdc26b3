"""The sandbox's external uploads and conversations.open, driven by the real WebClient."""

from __future__ import annotations

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.slack import SlackSandbox

CHANNEL = "C0GENERAL"


def error_of(call: object) -> str:
    """Run ``call`` expecting SlackApiError; Slack's error code."""
    with pytest.raises(SlackApiError) as raised:
        call()  # type: ignore[operator]
    return str(raised.value.response["error"])


def test_files_upload_v2_shares_the_bytes_with_title_alt_text_and_comment(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """The three steps of files_upload_v2 succeed and the sandbox keeps what was shared."""
    response = client.files_upload_v2(
        channel=CHANNEL,
        file=b"\x89PNG fake",
        filename="chart.png",
        title="Chart",
        alt_txt="a chart",
        initial_comment="Here it is",
    )
    assert response["file"]["mimetype"] == "image/png"
    (upload,) = sandbox.files.uploads(CHANNEL)
    assert (upload.data, upload.title, upload.alt_txt) == (b"\x89PNG fake", "Chart", "a chart")
    assert upload.initial_comment == "Here it is"
    assert [m.text for m in sandbox.messages(CHANNEL)] == ["Here it is"]


def test_bytes_that_differ_from_the_declared_length_are_refused(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """Declaring 10 bytes and sending 5 answers 400, and the file can never be completed."""
    reserved = client.files_getUploadURLExternal(filename="chart.png", length=10)
    answer = requests.post(reserved["upload_url"], data=b"12345", timeout=5)
    assert answer.status_code == 400
    assert answer.json()["detail"] == "declared 10 bytes, received 5"
    complete = client.files_completeUploadExternal
    assert error_of(lambda: complete(files=[{"id": reserved["file_id"]}], channel_id=CHANNEL)) == (
        "file_not_found"
    )
    assert sandbox.files.uploads() == []


def test_an_upload_url_is_single_use(client: WebClient) -> None:
    """A second POST to the same URL is refused with 404."""
    reserved = client.files_getUploadURLExternal(filename="a.png", length=3)
    assert requests.post(reserved["upload_url"], data=b"abc", timeout=5).status_code == 200
    assert requests.post(reserved["upload_url"], data=b"abc", timeout=5).status_code == 404


def test_unknown_or_never_uploaded_file_ids_are_refused(client: WebClient) -> None:
    """A made-up id and an id whose bytes never arrived both answer file_not_found."""
    complete = client.files_completeUploadExternal
    assert error_of(lambda: complete(files=[{"id": "F0NOPE"}], channel_id=CHANNEL)) == (
        "file_not_found"
    )
    reserved = client.files_getUploadURLExternal(filename="a.png", length=3)
    assert error_of(lambda: complete(files=[{"id": reserved["file_id"]}], channel_id=CHANNEL)) == (
        "file_not_found"
    )


def test_a_file_can_be_completed_only_once(client: WebClient) -> None:
    """Completing the same id twice: the second answers file_not_found."""
    reserved = client.files_getUploadURLExternal(filename="a.png", length=3)
    requests.post(reserved["upload_url"], data=b"abc", timeout=5)
    files = [{"id": reserved["file_id"]}]
    client.files_completeUploadExternal(files=files, channel_id=CHANNEL)
    complete = client.files_completeUploadExternal
    assert error_of(lambda: complete(files=files, channel_id=CHANNEL)) == "file_not_found"


def test_bad_arguments_are_refused_before_anything_is_reserved(client: WebClient) -> None:
    """No length, a length of zero and an over-long alt text are invalid_arguments."""
    reserve = client.files_getUploadURLExternal
    assert error_of(
        lambda: client.api_call("files.getUploadURLExternal", params={"filename": "a"})
    ) == ("invalid_arguments")
    assert error_of(lambda: reserve(filename="a.png", length=0)) == "invalid_arguments"
    assert error_of(lambda: reserve(filename="a.png", length=3, alt_txt="x" * 1001)) == (
        "invalid_arguments"
    )


def test_unknown_channels_and_channels_without_the_bot_are_refused(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """A malformed id or an unopened DM: channel_not_found; a refused channel its error."""

    def share(channel: str) -> str:
        return error_of(lambda: client.files_upload_v2(channel=channel, file=b"x", filename="a"))

    assert share("general") == "channel_not_found"
    assert share("D0ALICE") == "channel_not_found"
    sandbox.files.refuse_channel("C0PRIVATE", "not_in_channel")
    assert share("C0PRIVATE") == "not_in_channel"
    assert sandbox.files.uploads() == []


def test_conversations_open_returns_the_users_dm_which_then_accepts_files(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """The DM id is derived from the user; after opening, uploads there succeed."""
    opened = client.conversations_open(users="U0ALICE")
    assert opened["channel"]["id"] == "D0ALICE"
    again = client.conversations_open(users="U0ALICE")
    assert again["already_open"] is True
    client.files_upload_v2(channel="D0ALICE", file=b"png", filename="a.png")
    assert [u.channel for u in sandbox.files.uploads()] == ["D0ALICE"]
    assert error_of(lambda: client.conversations_open(users="nobody")) == "user_not_found"
    assert error_of(lambda: client.api_call("conversations.open")) == "users_list_not_supplied"


def test_the_upload_methods_have_slacks_rate_tiers(sandbox: SlackSandbox) -> None:
    """Tier 4 for both upload methods, Tier 3 for conversations.open."""
    assert sandbox.rate_limit("files.getUploadURLExternal") == 100
    assert sandbox.rate_limit("files.completeUploadExternal") == 100
    assert sandbox.rate_limit("conversations.open") == 50


def test_uploads_beyond_the_tier_are_rate_limited(sandbox: SlackSandbox, client: WebClient) -> None:
    """With the tier scaled down to two calls, the third reservation answers 429."""
    sandbox.configure_rate_limits(rate_scale=0.02)
    client.files_getUploadURLExternal(filename="a.png", length=1)
    client.files_getUploadURLExternal(filename="a.png", length=1)
    with pytest.raises(SlackApiError) as raised:
        client.files_getUploadURLExternal(filename="a.png", length=1)
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"]
