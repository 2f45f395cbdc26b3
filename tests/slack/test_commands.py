"""``/epmpulse`` end to end: the real Bolt app over socket mode against the sandbox."""

from __future__ import annotations

from bot.model import Status
from bot.slack.subscriptions import Subscription
from tests.slack.conftest import ALICE, BOB, MakeRunning, Running, body_text


def test_empty_text_shows_help(running: Running) -> None:
    """An empty command is answered with the usage of every sub-command."""
    text = running.reply("")
    for usage in ("/epmpulse status", "/epmpulse history APP DOMAIN [N]", "/epmpulse refresh"):
        assert usage in text
    assert "You can change statuses" in text


def test_help_reply_is_ephemeral(running: Running) -> None:
    """Replies to a command go to its response_url, visible only to the user."""
    running.sandbox.send_command("help")
    post = running.sandbox.wait_for_response()
    assert post.body["response_type"] == "ephemeral"
    assert "/epmpulse subscribe APP [DOMAIN]" in body_text(post.body)


def test_a_command_is_acked_before_its_reply_is_sent(running: Running) -> None:
    """The ack does not wait for the work: it arrives while the reply's post is held."""
    gate = running.sandbox.hold("chat.postEphemeral")
    try:
        running.sandbox.send_command("help", with_response_url=False)  # AckTimeout if held
        assert gate.arrived.wait(5), "the reply was never sent"
    finally:
        gate.release()
    assert running.sandbox.wait_for_call("chat.postEphemeral").ok


def test_status_shows_every_app_one_line_per_domain(running: Running) -> None:
    """``status`` lists every app with one line per domain."""
    running.service.set("FCCS", "Consolidation", "Warning", "late", by="api:ci")
    (body,) = running.command("status")
    headers = [b["text"]["text"] for b in body["blocks"] if b["type"] == "header"]
    assert headers == [
        ":white_circle: Planning",
        ":large_yellow_circle: FCCS",
        ":white_circle: ARCS",
    ]
    text = body_text(body)
    assert "*Consolidation* — Warning · late" in text
    assert "by api:ci" in text
    assert text.count("never set") == 5


def test_status_app_is_case_insensitive_and_shows_only_that_app(running: Running) -> None:
    """``status fccs`` shows FCCS only, with canonical names."""
    text = running.reply("status fccs")
    assert "FCCS" in text and "*Actuals*" in text and "*Consolidation*" in text
    assert "Planning" not in text and "Forecast" not in text


def test_status_domain_shows_its_last_changes(running: Running) -> None:
    """``status APP DOMAIN`` shows the record and its recent history with reader-local times."""
    running.service.set("Planning", "Actuals", "Loading", by="epm:planning")
    running.service.set("Planning", "Actuals", "OK", "done", by="slack:U0BOB")
    text = running.reply("status PLANNING actuals")
    assert "Planning / Actuals" in text
    assert "*Last changes*" in text
    assert "Loading → :large_green_circle: OK by <@U0BOB> · done" in text
    assert "Pending → :large_blue_circle: Loading by epm:planning" in text
    assert "<!date^" in text and "^{date_short_pretty} {time}|" in text


def test_status_set_changes_the_domain_durably(running: Running) -> None:
    """``status APP DOMAIN STATUS MESSAGE…`` saves the change before replying."""
    text = running.reply('status planning actuals error "GL load failed" at step 3')
    assert "*Planning / Actuals* is now *Error* (was Pending)" in text
    record = running.service.get("Planning", "Actuals")
    assert record.status is Status.ERROR
    assert record.message == "GL load failed at step 3"
    assert record.updated_by == f"slack:{ALICE}"


def test_unknown_app_names_the_choices_and_the_closest(running: Running) -> None:
    """An unknown app gets the valid apps and a suggestion."""
    text = running.reply("status Planing")
    assert "Unknown app 'Planing'" in text
    assert "Valid: Planning, FCCS, ARCS." in text
    assert "Did you mean Planning?" in text


def test_unknown_domain_names_the_apps_domains(running: Running) -> None:
    """An unknown domain names the domains of that app and the closest."""
    text = running.reply("status planning actual ok")
    assert "Unknown domain 'actual' for Planning. Valid: Actuals, Forecast, Budget." in text
    assert "Did you mean Actuals?" in text
    assert running.service.get("Planning", "Actuals").status is Status.PENDING


def test_unknown_status_names_the_statuses(running: Running) -> None:
    """An unknown status names the five statuses and changes nothing."""
    text = running.reply("status planning actuals okay")
    assert "Unknown status 'okay'. Valid: Pending, Loading, OK, Warning, Error." in text
    assert running.service.get("Planning", "Actuals").updated_at is None


def test_unknown_sub_command_suggests_the_closest(running: Running) -> None:
    """A misspelt sub-command gets the list of sub-commands and a suggestion."""
    text = running.reply("histroy planning actuals")
    assert "Unknown command 'histroy'" in text and "Did you mean history?" in text


def test_missing_arguments_are_named_with_the_usage(running: Running) -> None:
    """``history`` without its arguments names what is missing."""
    text = running.reply("history planning")
    assert "Missing DOMAIN" in text
    assert "`/epmpulse history APP DOMAIN [N]`" in text


def test_too_many_arguments_are_refused(running: Running) -> None:
    """Extra words are refused instead of ignored."""
    text = running.reply("subscribe planning actuals extra")
    assert "Too many arguments (unexpected: extra)" in text


def test_an_apostrophe_in_the_message_is_just_a_letter(running: Running) -> None:
    """``Can't`` does not open a quote: the command works and the message is kept."""
    text = running.reply("status Planning Actuals error Can't load GL")
    assert "*Planning / Actuals* is now *Error*" in text
    assert running.service.get("Planning", "Actuals").message == "Can't load GL"


def test_double_quotes_still_group_words_next_to_an_apostrophe(running: Running) -> None:
    """A phone's curly apostrophe does not stop curly double quotes from grouping words."""
    running.reply("status planning actuals warning \u201cGL  load\u201d can\u2019t finish")
    assert running.service.get("Planning", "Actuals").message == "GL  load can\u2019t finish"


def test_an_unclosed_quote_is_kept_as_typed(running: Running) -> None:
    """Text a shell could not split is split at whitespace instead of refused."""
    assert "is now *OK*" in running.reply('status planning actuals ok "unfinished note')
    assert running.service.get("Planning", "Actuals").message == '"unfinished note'


def test_backslashes_are_kept(running: Running) -> None:
    """Windows paths keep their backslashes, quoted or not."""
    running.reply('status planning actuals error C:\\data\\gl "D:\\new files\\"')
    record = running.service.get("Planning", "Actuals")
    assert record.message == "C:\\data\\gl D:\\new files\\"


def test_a_hash_does_not_start_a_comment(running: Running) -> None:
    """``#42`` is part of the message, not the start of a shell comment."""
    running.reply("status planning actuals error job #42 failed")
    assert running.service.get("Planning", "Actuals").message == "job #42 failed"


def test_curly_quotes_work_like_straight_ones(running: Running) -> None:
    """Quotes turned curly by a phone still group words."""
    running.reply("status planning actuals warning \u201cslow load\u201d")
    assert running.service.get("Planning", "Actuals").message == "slow load"


def test_message_markup_is_escaped_in_replies(running: Running) -> None:
    """A message with ``<`` and ``&`` is stored as typed and escaped when shown."""
    running.reply("status planning actuals ok a&lt;b &amp; <!channel>")
    assert running.service.get("Planning", "Actuals").message == "a<b & <!channel>"
    text = running.reply("status planning actuals")
    assert "a&lt;b &amp; &lt;!channel&gt;" in text


def test_too_long_message_is_refused(running: Running) -> None:
    """A message over 200 characters is refused and nothing changes."""
    text = running.reply("status planning actuals ok " + "x" * 201)
    assert "Message is 201 characters; the limit is 200." in text
    assert running.service.get("Planning", "Actuals").updated_at is None


def test_history_defaults_to_ten_newest_first(running: Running) -> None:
    """``history APP DOMAIN`` shows the last 10 changes, newest first."""
    for n in range(12):
        running.service.set("ARCS", "Reconciliation", "Loading", f"run {n}", by="system")
    text = running.reply("history arcs reconciliation")
    assert "ARCS / Reconciliation: last 10 change(s)" in text
    assert text.index("run 11") < text.index("run 2")
    assert "run 1\n" not in text and "run 0" not in text


def test_history_takes_a_count(running: Running) -> None:
    """``history APP DOMAIN N`` shows N changes."""
    for n in range(3):
        running.service.set("ARCS", "Reconciliation", "OK", f"run {n}", by="system")
    text = running.reply("history arcs reconciliation 2")
    assert "last 2 change(s)" in text and "run 2" in text and "run 0" not in text


def test_history_refuses_a_bad_count_and_shows_the_usage(running: Running) -> None:
    """N must be a whole number in range; the refusal names the usage."""
    text = running.reply("history arcs reconciliation ten")
    assert (
        ":warning: N must be a whole number from 1 to 100, not 'ten'. "
        "Usage: `/epmpulse history APP DOMAIN [N]`"
    ) in text
    assert "not '0'. Usage: `/epmpulse history APP DOMAIN [N]`" in running.reply(
        "history arcs reconciliation 0"
    )
    assert "not '2.5'" in running.reply("history arcs reconciliation 2.5")


def test_history_of_an_untouched_domain_says_so(running: Running) -> None:
    """A domain with no changes says so instead of showing nothing."""
    assert "No changes yet" in running.reply("history fccs actuals")


def test_subscribe_and_unsubscribe_persist(running: Running) -> None:
    """Subscriptions are stored with canonical names and can be removed again."""
    assert "Subscribed" in running.reply("subscribe planning ACTUALS")
    assert "already subscribed" in running.reply("subscribe Planning Actuals")
    assert "Subscribed" in running.reply("subscribe fccs", user=BOB)
    subs = running.part.deps.subscriptions.all()
    assert subs == [Subscription(ALICE, "Planning", "Actuals"), Subscription(BOB, "FCCS", None)]
    assert "Unsubscribed from *Planning / Actuals*" in running.reply("unsubscribe planning actuals")
    text = running.reply("unsubscribe fccs")
    assert "You are not subscribed to *FCCS*. Your subscriptions: none." in text
    assert running.part.deps.subscriptions.all() == [Subscription(BOB, "FCCS", None)]


def test_subscribe_to_an_unknown_app_is_refused(running: Running) -> None:
    """Subscribing to a name that does not exist names the choices."""
    assert "Did you mean FCCS?" in running.reply("subscribe fcc")
    assert running.part.deps.subscriptions.all() == []


def test_refresh_without_a_canvas_answers_honestly(running: Running) -> None:
    """Without a canvas hook, refresh says there is nothing to refresh."""
    assert "does not maintain a canvas" in running.reply("refresh")


def test_refresh_calls_the_canvas_hook(make_running: MakeRunning) -> None:
    """With a canvas hook, refresh calls it and confirms."""
    running = make_running(refresh=True)
    assert "Canvas refresh requested" in running.reply("REFRESH")
    assert running.refreshes == [1]


def test_non_editor_may_read_but_not_write(make_running: MakeRunning) -> None:
    """With editors configured, others can read but get a clear refusal on writes."""
    running = make_running(EPMPULSE_EDITORS=BOB)
    assert "Planning" in running.reply("status")
    text = running.reply("status planning actuals ok", user=ALICE)
    assert "You are not allowed to change statuses" in text
    assert running.service.get("Planning", "Actuals").updated_at is None
    assert "changing them needs an EPMPulse editor" in running.reply("help")
    refused = running.metrics.registry.get_sample_value(
        "epmpulse_updates_total", {"source": "slack", "result": "not_allowed"}
    )
    assert refused == 1
    assert "is now *OK*" in running.reply("status planning actuals ok", user=BOB)


def test_usergroup_members_are_editors(make_running: MakeRunning) -> None:
    """An editor usergroup is resolved with usergroups.users.list."""
    running = make_running(EPMPULSE_EDITORS="U0ADMIN,S0CLOSE")
    running.sandbox.add_usergroup("S0CLOSE", [BOB])
    assert "is now *Loading*" in running.reply("status fccs actuals loading", user=BOB)
    assert "not allowed" in running.reply("status fccs actuals ok", user=ALICE)
    assert [c.args.get("usergroup") for c in running.sandbox.calls("usergroups.users.list")] == [
        "S0CLOSE"
    ]  # the second lookup came from the cache
