"""``/epmpulse report`` and the App Home report button, end to end against the sandbox."""

from __future__ import annotations

from bot.sandbox.slack import DEFAULT_CHANNEL_ID
from bot.slack.report import REPORT_ACTION, REPORT_BLOCK
from tests.report.archives import october, put_archives, simple
from tests.slack.conftest import ALICE, Running, block_texts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALICE_DM = "D" + ALICE[1:]


def archive_two_closes(running: Running) -> None:
    """Archive 2026-09 and 2026-10 in the running app's store."""
    put_archives(
        running.service.store, {"2026-09": simple("2026-09", [10, 20]), "2026-10": october()}
    )


def test_report_uploads_the_chart_where_it_was_asked_with_alt_text_and_summary(
    running: Running,
) -> None:
    """The last archived close is shared in the command's channel, described in words."""
    archive_two_closes(running)
    running.sandbox.send_command("report")
    upload = running.sandbox.files.wait_for_upload(DEFAULT_CHANNEL_ID)
    assert upload.data.startswith(PNG_SIGNATURE)
    assert upload.filename == "epmpulse-close-2026-10.png"
    assert upload.alt_txt is not None
    assert upload.alt_txt.startswith("Timeline of the 2026-10 close")
    comment = upload.initial_comment or ""
    assert comment.startswith("*Close 2026-10: 4 of 6 OK, 1 late, 2 never OK;")
    assert "Slowest: FCCS / Consolidation (never)" in comment
    assert "• Planning / Forecast: 3d 9h — *16h 30m late*" in comment
    posted = running.sandbox.messages(DEFAULT_CHANNEL_ID)
    assert [m.text for m in posted] == [comment]
    (complete,) = running.sandbox.calls("files.completeUploadExternal")
    assert complete.ok and complete.args["channel_id"] == DEFAULT_CHANNEL_ID


def test_report_of_a_named_period_uploads_that_close(running: Running) -> None:
    """``report 2026-09`` charts September, not the latest close."""
    archive_two_closes(running)
    running.sandbox.send_command("report 2026-09")
    upload = running.sandbox.files.wait_for_upload(DEFAULT_CHANNEL_ID)
    assert upload.filename == "epmpulse-close-2026-09.png"
    assert (upload.initial_comment or "").startswith("*Close 2026-09: 2 of 2 OK")


def test_a_period_with_no_archive_gets_an_ephemeral_error_listing_the_archived_ones(
    running: Running,
) -> None:
    """Nothing is uploaded; the reply names every archived period."""
    archive_two_closes(running)
    text = running.reply("report 2026-05")
    assert "No archived close for 2026-05. Archived periods: 2026-09, 2026-10." in text
    assert running.sandbox.calls("files.getUploadURLExternal") == []


def test_without_any_archive_report_says_there_is_none_yet(running: Running) -> None:
    """Before the first close is archived, the reply says so."""
    assert "No close has been archived yet" in running.reply("report")


def test_a_malformed_period_names_the_form(running: Running) -> None:
    """``report October`` is refused with the YYYY-MM form named."""
    assert "use YYYY-MM" in running.reply("report October")


def test_when_the_bot_is_not_in_the_channel_the_chart_goes_to_the_users_dm(
    running: Running,
) -> None:
    """not_in_channel: a DM is opened, the chart shared there, and the reply says so."""
    archive_two_closes(running)
    running.sandbox.files.refuse_channel(DEFAULT_CHANNEL_ID, "not_in_channel")
    text = running.reply("report")
    assert "can't post in this conversation (`not_in_channel`)" in text
    assert "sent the 2026-10 close report to you as a direct message" in text
    upload = running.sandbox.files.wait_for_upload(ALICE_DM)
    assert upload.data.startswith(PNG_SIGNATURE)
    assert running.sandbox.files.uploads(DEFAULT_CHANNEL_ID) == []
    (opened,) = running.sandbox.calls("conversations.open")
    assert opened.args["users"] == ALICE


def test_a_channel_slack_cannot_find_also_falls_back_to_a_dm(running: Running) -> None:
    """channel_not_found is treated like not_in_channel."""
    archive_two_closes(running)
    running.sandbox.files.refuse_channel(DEFAULT_CHANNEL_ID, "channel_not_found")
    assert "`channel_not_found`" in running.reply("report")
    assert running.sandbox.files.wait_for_upload(ALICE_DM).filename.endswith("2026-10.png")


def test_any_other_refusal_is_reported_and_nothing_is_posted(running: Running) -> None:
    """An archived channel is not a reason to DM: the reply names Slack's error."""
    archive_two_closes(running)
    running.sandbox.files.refuse_channel(DEFAULT_CHANNEL_ID, "is_archived")
    text = running.reply("report")
    assert "Slack refused the report upload (`is_archived`); nothing was posted." in text
    assert running.sandbox.files.uploads() == []
    assert running.sandbox.calls("conversations.open") == []


def test_help_lists_the_report_command(running: Running) -> None:
    """``help`` shows ``/epmpulse report [PERIOD]``."""
    assert "`/epmpulse report [PERIOD]`" in running.reply("help")


def test_app_home_shows_the_last_close_and_its_button_sends_the_report(running: Running) -> None:
    """Headline numbers of the last close on Home; the button shares the chart in a DM."""
    archive_two_closes(running)
    running.sandbox.app_home_opened(ALICE)
    home = running.sandbox.wait_for_home_view(ALICE)
    text = "\n".join(block_texts(home["blocks"]))
    assert "*Last close: 2026-10*" in text
    assert "4 of 6 OK, 1 late, 2 never OK; median time to OK 2d 0h." in text
    section = next(b for b in home["blocks"] if b.get("block_id") == REPORT_BLOCK)
    assert section["accessory"]["action_id"] == REPORT_ACTION
    running.sandbox.block_action(home["id"], REPORT_BLOCK, REPORT_ACTION, user_id=ALICE)
    upload = running.sandbox.files.wait_for_upload(ALICE_DM)
    assert upload.filename == "epmpulse-close-2026-10.png"


def test_app_home_without_an_archive_shows_no_report_section(running: Running) -> None:
    """Before any close is archived, Home has no report section."""
    running.sandbox.app_home_opened(ALICE)
    home = running.sandbox.wait_for_home_view(ALICE)
    assert all(b.get("block_id") != REPORT_BLOCK for b in home["blocks"])
