"""``epmpulse check`` fails on whatever ``run`` would fail on, and says why.

Every case runs the real CLI against the bundled Slack sandbox on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.sandbox.slack import DEFAULT_CHANNEL_ID, SlackSandbox
from tests.conftest import free_port


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A temp data dir and no Slack settings but those a test sets."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EPMPULSE_LOG_FORMAT", "text")
    for name in (
        "EPMPULSE_CONFIG",
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_API_URL",
        "SLACK_CANVAS_ID",
        "SLACK_CHANNEL_ID",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackSandbox]:
    """A sandbox with #general, a private #finance without the bot; EPMPulse points at it."""
    with SlackSandbox() as sandbox:
        sandbox.add_channel("G0FINANCE", "finance", private=True, member=False)
        sandbox.add_channel("C0LOBBY", "lobby", member=False)
        monkeypatch.setenv("SLACK_BOT_TOKEN", sandbox.bot_token)
        monkeypatch.setenv("SLACK_APP_TOKEN", sandbox.app_token)
        monkeypatch.setenv("SLACK_API_URL", sandbox.api_url)
        monkeypatch.setenv("SLACK_CHANNEL_ID", DEFAULT_CHANNEL_ID)
        yield sandbox


def check(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str]]:
    """Run ``epmpulse check``: its exit code and each line as {name: 'ok   …'/'FAIL …'}."""
    code = main(["check"])
    lines: dict[str, str] = {}
    for line in capsys.readouterr().out.strip().splitlines():
        verdict, rest = line[:4], line[5:]
        name, _, detail = rest.partition(": ")
        lines[name] = f"{verdict} {detail}"
    return code, lines


def test_a_working_set_up_passes_every_check(
    slack: SlackSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both tokens, the channel and its (future) canvas pass; exit 0; nothing is created."""
    code, lines = check(capsys)
    assert code == 0, lines
    assert list(lines) == [
        "config",
        "store",
        "slack",
        "socket mode",
        "channel",
        "canvas",
        "proxy",
    ]
    assert (
        lines["store"] == f"ok   {tmp_path / 'data'} does not exist yet: the first `run` creates it"
    )
    assert list(tmp_path.iterdir()) == []  # no data directory, no board
    assert lines["socket mode"] == "ok   SLACK_APP_TOKEN opens socket mode connections"
    assert lines["channel"] == "ok   #general (C0GENERAL)"
    assert lines["canvas"].startswith("ok   channel C0GENERAL: its canvas is created")


def test_a_database_that_does_not_answer_fails_the_store_check_and_the_rest_still_print(
    slack: SlackSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreachable EPMPULSE_DATABASE_URL is one FAIL line among the others; exit 1."""
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=2"
    monkeypatch.setenv("EPMPULSE_DATABASE_URL", url)
    code, lines = check(capsys)
    assert code == 1
    assert lines["store"].startswith("FAIL cannot open the store")
    assert lines["slack"].startswith("ok ") and lines["channel"].startswith("ok ")


def test_a_database_is_only_read_no_table_is_created(
    slack: SlackSandbox,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An empty database passes without getting tables; a used one shows its board version."""
    import psycopg

    from bot.store.postgres import PostgresStore

    monkeypatch.setenv("EPMPULSE_DATABASE_URL", pg_url)
    code, lines = check(capsys)
    assert code == 0, lines
    assert lines["store"] == (
        "ok   the database: no EPMPulse tables yet: the first `run` creates them"
    )
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('epmpulse_board')").fetchone() == (None,)
    canvas_id = slack.create_canvas("# board")
    store = PostgresStore(pg_url)
    store.commit(lambda work: work.put_meta("canvas", {"id": canvas_id, "channel_id": "C0GENERAL"}))
    store.close()
    code, lines = check(capsys)
    assert code == 0, lines
    assert lines["store"] == "ok   the database: board version 1"
    assert lines["canvas"] == f"ok   {canvas_id} exists"  # the channel canvas the store knows


def test_a_damaged_board_is_reported_and_left_for_run_to_repair(
    slack: SlackSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A state.json that does not parse passes with a note (run restores a backup); check
    itself changes nothing."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "state.json").write_text("{not json")
    code, lines = check(capsys)
    assert code == 0, lines
    assert lines["store"].startswith(f"ok   {data / 'state.json'} is damaged (not valid JSON")
    assert lines["store"].endswith("`run` restores the newest valid backup")
    assert (data / "state.json").read_text() == "{not json"
    assert sorted(p.name for p in data.iterdir()) == ["state.json"]


def test_a_wrong_app_token_fails_check_as_it_fails_run(
    slack: SlackSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong SLACK_APP_TOKEN is refused by apps.connections.open, the call run makes."""
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-wrong")
    code, lines = check(capsys)
    assert code == 1
    assert lines["socket mode"] == (
        "FAIL Slack refused SLACK_APP_TOKEN (apps.connections.open: invalid_auth)"
    )
    assert lines["slack"].startswith("ok ")
    assert slack.connections_opened == 0


def test_an_app_token_without_connections_write_is_named(
    slack: SlackSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """An app-level token lacking connections:write says which scope and where to add it."""
    slack.set_app_token_scopes("authorizations:read")
    code, lines = check(capsys)
    assert code == 1
    assert lines["socket mode"].startswith("FAIL SLACK_APP_TOKEN lacks the connections:write scope")
    assert "App-Level Tokens" in lines["socket mode"]


def test_a_channel_name_instead_of_an_id_says_how_to_find_the_id(
    slack: SlackSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SLACK_CHANNEL_ID=general is a configuration error (exit 2) explaining where the id is."""
    monkeypatch.setenv("SLACK_CHANNEL_ID", "general")
    assert main(["check"]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "FAIL config: 1 problem(s)"
    assert out[1].startswith("  - SLACK_CHANNEL_ID: 'general' is not a channel id")
    assert "Channel ID (C…)" in out[1] and "About tab" in out[1]
    assert slack.calls() == []


@pytest.mark.parametrize("channel_id", ["C0NOSUCH", "G0FINANCE"])
def test_an_unknown_or_uninvited_channel_fails_check(
    channel_id: str,
    slack: SlackSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A well-formed id Slack does not show the bot fails, suggesting an invite."""
    monkeypatch.setenv("SLACK_CHANNEL_ID", channel_id)
    code, lines = check(capsys)
    assert code == 1
    assert lines["channel"] == (
        f"FAIL SLACK_CHANNEL_ID {channel_id}: no such channel, or a private channel the bot "
        "is not in (invite it there with /invite @EPMPulse)"
    )
    [call] = slack.calls("conversations.info")
    assert call.args["channel"] == channel_id


def test_a_public_channel_without_the_bot_passes_with_a_note(
    slack: SlackSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Alerts reach a public channel the bot is not in (chat:write.public); check says so."""
    monkeypatch.setenv("SLACK_CHANNEL_ID", "C0LOBBY")
    code, lines = check(capsys)
    assert code == 0, lines
    assert lines["channel"] == (
        "ok   #lobby (C0LOBBY): the bot is not a member; alerts rely on the chat:write.public scope"
    )


def test_without_tokens_each_missing_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No tokens: both are named as `run` names them, as a configuration error (exit 2)."""
    monkeypatch.setenv("SLACK_CHANNEL_ID", "C0GENERAL")
    assert main(["check"]) == 2
    assert capsys.readouterr().out.splitlines() == [
        "FAIL config: 2 problem(s)",
        "  - SLACK_BOT_TOKEN is required (a bot token, xoxb-…)",
        "  - SLACK_APP_TOKEN is required (an app-level token, xapp-…, for socket mode)",
    ]


def test_every_configuration_problem_is_listed_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three wrong settings (a token, a channel name, a YAML key) give three lines, exit 2."""
    (tmp_path / "epmpulse.yml").write_text("canvas: {titel: Close}\n")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xapp-wrong-kind")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-x")
    monkeypatch.setenv("SLACK_CHANNEL_ID", "#general")
    assert main(["check"]) == 2
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0] == "FAIL config: 3 problem(s)"
    assert any(line.startswith("  - SLACK_BOT_TOKEN: must be a bot token") for line in lines)
    assert any("'#general' is not a channel id" in line for line in lines)
    assert any(
        "canvas.titel: unknown key; valid: title, timezone (did you mean title?)" in line
        for line in lines
    )
    assert out.err == ""
    assert not (tmp_path / "data").exists()


def test_an_existing_board_is_read_without_being_written(
    slack: SlackSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data directory in use is read (its board version shown) and left as it was."""
    assert main(["set", "Planning", "Actuals", "OK"]) == 0
    capsys.readouterr()
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "data").rglob("*")}
    code, lines = check(capsys)
    assert code == 0, lines
    assert lines["store"] == f"ok   {tmp_path / 'data'}: board version 2"
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "data").rglob("*")} == before


def test_an_outage_is_reported_as_slack_not_reached(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nobody answering SLACK_API_URL is 'could not be reached'; later checks say so too."""
    url = f"http://127.0.0.1:{free_port()}/api/"
    monkeypatch.setenv("SLACK_API_URL", url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-x")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-x")
    monkeypatch.setenv("SLACK_CHANNEL_ID", "C0GENERAL")
    code = main(["check"])
    out = capsys.readouterr()
    assert out.err == ""  # no retry log lines: only the result lines, on stdout
    lines = {line[5:].partition(": ")[0]: line for line in out.out.splitlines()}
    assert code == 1
    assert lines["slack"].startswith(f"FAIL slack: Slack could not be reached at {url}")
    for name in ("socket mode", "channel", "canvas"):
        assert lines[name] == f"FAIL {name}: not checked: Slack could not be reached", name


def test_with_v_check_also_shows_the_libraries_log_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``check -v`` shows slack_sdk's retry lines (stderr) that plain ``check`` hides."""
    monkeypatch.setenv("SLACK_API_URL", f"http://127.0.0.1:{free_port()}/api/")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-x")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-x")
    monkeypatch.setenv("SLACK_CHANNEL_ID", "C0GENERAL")
    assert main(["check", "-v"]) == 1
    out = capsys.readouterr()
    assert "slack_sdk" in out.err and "retry" in out.err
    assert out.out.startswith("ok   config: ")


def test_run_reports_an_outage_as_such_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run`` with Slack unreachable exits 1 saying so, not 'Invalid configuration'."""
    url = f"http://127.0.0.1:{free_port()}/api/"
    monkeypatch.setenv("SLACK_API_URL", url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-x")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-x")
    monkeypatch.setenv("SLACK_CHANNEL_ID", "C0GENERAL")
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert f"could not reach Slack at {url} (auth.test:" in err
    assert "Invalid configuration" not in err and "Traceback" not in err
