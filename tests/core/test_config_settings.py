"""Settings checked with every other setting (rate limits, storage, editors), and their docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.errors import ConfigError
from bot.settings import Settings, settings_table
from tests.conftest import MakeConfig


def problems_of(make_config: MakeConfig, **env: str) -> list[str]:
    """The problems load_config reports for ``env``."""
    with pytest.raises(ConfigError) as caught:
        make_config(**env)
    return caught.value.problems


def test_a_bad_rate_limit_is_a_configuration_problem(make_config: MakeConfig) -> None:
    """EPMPULSE_RATE_LIMITS=foo is refused at load time, naming the groups."""
    [problem] = problems_of(make_config, EPMPULSE_RATE_LIMITS="foo")
    assert problem.startswith("EPMPULSE_RATE_LIMITS: 'foo' is not GROUP=LIMIT")
    assert "status, batch, read" in problem


def test_a_bad_limit_value_names_its_group(make_config: MakeConfig) -> None:
    """A known group with an unparsable limit says which group and shows the expected form."""
    [problem] = problems_of(make_config, EPMPULSE_RATE_LIMITS="status=often")
    assert problem == "EPMPULSE_RATE_LIMITS: status: 'often' is not a limit like '60/minute'"


def test_an_unknown_rate_limit_storage_is_a_configuration_problem(make_config: MakeConfig) -> None:
    """EPMPULSE_RATE_LIMIT_STORAGE=bogus:// is refused at load time."""
    [problem] = problems_of(make_config, EPMPULSE_RATE_LIMIT_STORAGE="bogus://")
    assert problem.startswith("EPMPULSE_RATE_LIMIT_STORAGE: 'bogus://' is not a usable")


def test_good_rate_limit_settings_load(make_config: MakeConfig) -> None:
    """Valid limits and the memory storage are accepted as given."""
    config = make_config(
        EPMPULSE_RATE_LIMITS="status=5/minute, read=10/second",
        EPMPULSE_RATE_LIMIT_STORAGE="memory://",
    )
    assert config.settings.rate_limits == "status=5/minute, read=10/second"


def test_editors_must_be_slack_user_or_group_ids(make_config: MakeConfig) -> None:
    """``bob`` and a lower-case id are each reported; U…, W… and S… ids pass."""
    problems = problems_of(make_config, EPMPULSE_EDITORS="bob,U0ADMIN,u0lower,W0GRID,S0CLOSE")
    assert len(problems) == 2, problems
    assert problems[0].startswith("EPMPULSE_EDITORS: 'bob' is not a Slack user id")
    assert "'u0lower'" in problems[1]
    assert "Copy member ID" in problems[0]
    config = make_config(EPMPULSE_EDITORS="U0ADMIN W0GRID,S0CLOSE")
    assert config.settings.editors == ("U0ADMIN", "W0GRID", "S0CLOSE")


def test_every_new_problem_comes_in_the_same_message(make_config: MakeConfig) -> None:
    """Limits, storage, editors and an older setting are listed together, once each."""
    problems = problems_of(
        make_config,
        EPMPULSE_RATE_LIMITS="foo",
        EPMPULSE_RATE_LIMIT_STORAGE="bogus://",
        EPMPULSE_EDITORS="bob",
        EPMPULSE_HTTP_PORT="eighty",
    )
    named = sorted(p.split(":", 1)[0] for p in problems)
    assert named == [
        "EPMPULSE_EDITORS",
        "EPMPULSE_HTTP_PORT",
        "EPMPULSE_RATE_LIMITS",
        "EPMPULSE_RATE_LIMIT_STORAGE",
    ]


def test_run_refuses_bad_rate_limits_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run`` exits 2 with one message; no data directory is created, nothing starts."""
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    env = {
        "EPMPULSE_DATA_DIR": str(data),
        "SLACK_BOT_TOKEN": "xoxb-x",
        "SLACK_APP_TOKEN": "xapp-x",
        "SLACK_CHANNEL_ID": "C0GENERAL",
        "EPMPULSE_RATE_LIMITS": "foo",
        "EPMPULSE_RATE_LIMIT_STORAGE": "bogus://",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EPMPULSE_CONFIG", raising=False)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Invalid configuration (2 problem(s)):")
    assert "EPMPULSE_RATE_LIMITS" in err and "EPMPULSE_RATE_LIMIT_STORAGE" in err
    assert not data.exists()


def test_docs_settings_md_is_the_table_rendered_from_the_settings_model() -> None:
    """docs/settings.md is settings_table()'s output; regenerate it when a setting changes."""
    page = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
    assert page.read_text(encoding="utf-8") == settings_table(), (
        "docs/settings.md is stale: run `python -m bot.settings > docs/settings.md`"
    )


def test_the_settings_table_names_every_variable_its_default_and_meaning() -> None:
    """One row per field: every variable name, the default as given, the field's description."""
    rows = [line for line in settings_table().splitlines() if line.startswith("| `")]
    assert len(rows) == len(Settings.model_fields)
    assert "| `EPMPULSE_HTTP_PORT` / `PORT` | `8080` | REST API port;" in settings_table()
    assert "| `SLACK_BOT_TOKEN` | — | bot token, must start `xoxb-` (required by `run`) |" in rows
    assert all("*one-shot*" in row for row in rows if "EPMPULSE_DATA_DIR" in row)
    assert not any("*one-shot*" in row for row in rows if "SLACK_" in row)
