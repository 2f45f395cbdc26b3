"""The Slack part's life cycle: fail-fast start, reconnection, health, stop, ``epmpulse run``."""

from __future__ import annotations

import pytest

from bot import cli
from bot.app import build_runtime
from bot.errors import ConfigError, SlackError
from bot.sandbox.slack import SlackSandbox
from bot.service import StatusService
from bot.slack.part import SlackPart
from bot.store import JsonStore
from tests.conftest import MakeConfig, free_port, wait_until
from tests.slack.conftest import MakeRunning, Running, slack_env


def start_part(make_config: MakeConfig, **env: str) -> tuple[SlackPart, JsonStore]:
    """A Slack part over a fresh store, started (the caller stops it)."""
    config = make_config(**env)
    store = JsonStore(config.settings.data_dir)
    part = SlackPart(config, StatusService(config.estate.layout, store))
    try:
        part.start()
    except BaseException:
        store.close()
        raise
    return part, store


def test_a_rejected_bot_token_stops_start_with_a_clear_message(
    sandbox: SlackSandbox, make_config: MakeConfig
) -> None:
    """auth.test failing is reported as a SLACK_BOT_TOKEN problem; no socket is opened."""
    env = slack_env(sandbox, SLACK_BOT_TOKEN="xoxb-wrong")
    with pytest.raises(
        ConfigError, match=r"SLACK_BOT_TOKEN: Slack refused it \(auth.test: invalid_auth\)"
    ):
        start_part(make_config, **env)
    assert sandbox.connections_opened == 0


def test_a_rejected_app_token_stops_start(sandbox: SlackSandbox, make_config: MakeConfig) -> None:
    """apps.connections.open failing is reported as a SLACK_APP_TOKEN problem."""
    env = slack_env(sandbox, SLACK_APP_TOKEN="xapp-wrong")
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN: Slack refused it"):
        start_part(make_config, **env)


def test_an_unreachable_slack_stops_start_as_an_outage(make_config: MakeConfig) -> None:
    """A Slack API URL nobody answers is an outage (SlackError), not a configuration error."""
    url = f"http://127.0.0.1:{free_port()}/api/"
    env = {"SLACK_BOT_TOKEN": "xoxb-x", "SLACK_APP_TOKEN": "xapp-x", "SLACK_API_URL": url}
    with pytest.raises(SlackError, match=f"could not reach Slack at {url}") as raised:
        start_part(make_config, **env)
    assert not isinstance(raised.value, ConfigError)


def test_health_follows_the_connection(sandbox: SlackSandbox, make_config: MakeConfig) -> None:
    """Health is OK while connected; stop closes the connection and health is not OK."""
    part, store = start_part(make_config, **slack_env(sandbox))
    try:
        sandbox.wait_connected(5)
        assert part.health().ok
        assert "socket mode connected" in part.health().detail
    finally:
        part.stop()
        store.close()
    assert not part.health().ok
    wait_until(lambda: sandbox.connection_count == 0, "Slack to see the connection closed")


def test_it_reconnects_after_slack_asks_it_to(running: Running) -> None:
    """After a ``disconnect`` envelope the app opens a new connection and keeps serving."""
    running.sandbox.disconnect("refresh_requested", wait=True, timeout=10)
    assert running.sandbox.connections_opened == 2
    assert "is now *OK*" in running.reply("status planning actuals ok")
    assert running.part.health().ok


def test_it_reconnects_when_the_connection_drops(make_running: MakeRunning) -> None:
    """A connection closed by the server is replaced at the next ping check."""
    running = make_running(ping_interval=0.5)
    assert running.sandbox.close_connections() == 1
    wait_until(lambda: running.sandbox.connections_opened >= 2, "a new connection", timeout=10)
    assert running.sandbox.connections_opened == 2
    running.sandbox.wait_connected(5)
    assert "Planning" in running.reply("status")


def test_the_slack_part_starts_first(make_config: MakeConfig) -> None:
    """build_runtime adds the Slack part before the others, so a bad token fails fast."""
    runtime = build_runtime(make_config())
    try:
        assert runtime.parts[0].name == "slack"
    finally:
        runtime.store.close()


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        (
            {"SLACK_BOT_TOKEN": "xoxb-revoked", "SLACK_CHANNEL_ID": "C0ALERTS"},
            "SLACK_BOT_TOKEN: Slack refused it (auth.test: invalid_auth)",
        ),
        ({"SLACK_CANVAS_ID": "F0NOPE"}, "SLACK_CANVAS_ID F0NOPE: no such canvas"),
        (
            {"SLACK_CHANNEL_ID": "C0UNKNOWN"},
            "SLACK_CHANNEL_ID C0UNKNOWN: Slack answered channel_not_found",
        ),
    ],
    ids=["revoked-token", "unknown-canvas", "unknown-channel"],
)
def test_run_stops_with_exit_2_on_a_setting_slack_refuses(
    setting: dict[str, str],
    reason: str,
    sandbox: SlackSandbox,
    make_config: MakeConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A token, canvas id or channel Slack refuses is bad configuration: exit 2, named."""
    env = slack_env(sandbox, EPMPULSE_HTTP_PORT="0", **setting)
    env["EPMPULSE_DATA_DIR"] = str(make_config().settings.data_dir)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert reason in err
    assert "Traceback" not in err


def test_run_lists_every_missing_setting(
    make_config: MakeConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``epmpulse run`` without tokens exits 2 (bad input) naming each missing setting."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_CANVAS_ID", "SLACK_CHANNEL_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(make_config().settings.data_dir))
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN is required" in err and "SLACK_APP_TOKEN is required" in err


def test_refresh_hook_can_be_set_after_construction(make_running: MakeRunning) -> None:
    """The canvas part may hand its hook to the Slack part after both exist."""
    running = make_running()
    calls: list[str] = []
    running.part.on_refresh = lambda: calls.append("refresh")
    assert "Canvas refresh requested" in running.reply("refresh")
    assert calls == ["refresh"]
