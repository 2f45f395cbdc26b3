"""One-shot commands keep a validated layout and import no pydantic while nothing changed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import bot.config
from bot import oneshot
from bot.close.calendar import CloseCalendar
from bot.close.rules import CloseRules
from bot.errors import ConfigError
from bot.layout import AppLayout, Layout
from bot.model import utcnow
from bot.oneshot import CACHE_FILE, SETTINGS_ENV_VARS, OneShotConfig
from bot.settings import env_var_names

ESTATE = """\
apps:
  Planning:
    domains: [Actuals, Forecast]
    server: epm1
  FCCS:
    domains: [Consolidation]
epm:
  servers:
    epm1:
      kind: planning
      base_url: https://epm.example.com
      application: Vision
      auth:
        type: basic
        username: svc_epmpulse
        password: ${EPM_PASSWORD}
canvas:
  title: ${BOARD_TITLE}
  timezone: Europe/London
close:
  weekend: [Saturday, Sunday]
  holidays:
    extra: [2026-12-28]
  deadlines:
    Planning/Actuals: WD2 12:00
  depends_on:
    FCCS/Consolidation: [Planning/Actuals]
"""
PASSWORD = "hunter2-very-secret-password"
BOT_TOKEN = "xoxb-1234-secret-bot-token"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A data directory and a YAML file naming two environment variables."""
    (tmp_path / "data").mkdir(mode=0o700)
    (tmp_path / "estate.yml").write_text(ESTATE, encoding="utf-8")
    return {
        "EPMPULSE_DATA_DIR": str(tmp_path / "data"),
        "EPMPULSE_CONFIG": str(tmp_path / "estate.yml"),
        "EPM_PASSWORD": PASSWORD,
        "BOARD_TITLE": "Close board",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
    }


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """Each full validation :func:`oneshot.load` asks for, by the environment it read."""
    calls: list[dict[str, str]] = []
    real = bot.config.load_config

    def counting(env: Any = None, **kwargs: Any) -> bot.config.Config:
        calls.append(dict(env))
        return real(env, **kwargs)

    monkeypatch.setattr(bot.config, "load_config", counting)
    return calls


def test_the_second_run_reads_the_layout_the_first_one_validated(
    env: dict[str, str], tmp_path: Path, validations: list[dict[str, str]]
) -> None:
    """The first command validates everything; the next one with the same inputs does not,
    and gets the same layout, close rules included."""
    first = oneshot.load(env, tmp_path)
    second = oneshot.load(env, tmp_path)
    assert len(validations) == 1
    assert second.layout == first.layout
    assert second.layout == Layout(
        apps={
            "Planning": AppLayout(("Actuals", "Forecast"), "epm1"),
            "FCCS": AppLayout(("Consolidation",)),
        },
        servers=("epm1",),
        canvas_title="Close board",
        canvas_timezone="Europe/London",
        close=CloseRules(
            extra_holidays=(date(2026, 12, 28),),
            deadlines={"Planning/Actuals": "WD2 12:00"},
            depends_on={"FCCS/Consolidation": ("Planning/Actuals",)},
        ),
    )
    assert (second.data_dir, second.database_url, second.log_level) == (
        Path(env["EPMPULSE_DATA_DIR"]),
        None,
        None,
    )


def _edit_yaml(env: dict[str, str]) -> None:
    path = Path(env["EPMPULSE_CONFIG"])
    path.write_text(path.read_text().replace("Forecast]", "Forecast, Budget]"))


def _other_yaml(env: dict[str, str]) -> None:
    other = Path(env["EPMPULSE_CONFIG"]).with_name("other.yml")
    other.write_text(ESTATE)
    env["EPMPULSE_CONFIG"] = str(other)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_edit_yaml, id="the YAML file's content"),
        pytest.param(_other_yaml, id="the YAML file's path"),
        pytest.param(lambda env: env.update(BOARD_TITLE="Month end"), id="a ${VAR} it names"),
        pytest.param(lambda env: env.update(EPM_PASSWORD="changed-password"), id="a ${VAR} secret"),
        pytest.param(lambda env: env.update(EPMPULSE_HTTP_PORT="9090"), id="a setting"),
        pytest.param(lambda env: env.update(PORT="9090"), id="PORT"),
        pytest.param(lambda env: env.pop("SLACK_BOT_TOKEN"), id="an unset setting"),
    ],
)
def test_any_change_to_what_was_validated_validates_again(
    env: dict[str, str],
    tmp_path: Path,
    validations: list[dict[str, str]],
    change: Callable[[dict[str, str]], object],
) -> None:
    """The kept layout is used only for exactly the inputs it was validated with."""
    oneshot.load(env, tmp_path)
    change(env)
    changed = oneshot.load(env, tmp_path)
    assert len(validations) == 2
    assert oneshot.load(env, tmp_path).layout == changed.layout
    assert len(validations) == 2  # and the new inputs are kept in turn


def test_the_new_layout_is_the_one_used_after_an_edit(env: dict[str, str], tmp_path: Path) -> None:
    """A domain added to the YAML file can be set by the very next command."""
    oneshot.load(env, tmp_path)
    _edit_yaml(env)
    assert oneshot.load(env, tmp_path).layout.resolve_domain("planning", "budget") == (
        "Planning",
        "Budget",
    )


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("EPMPULSE_LOG_LEVEL", "LOUD", "EPMPULSE_LOG_LEVEL"),
        ("EPMPULSE_EDITORS", "alice", "EPMPULSE_EDITORS"),
        ("EPMPULSE_DATABASE_URL", "mysql://db", "EPMPULSE_DATABASE_URL"),
    ],
)
def test_a_setting_made_invalid_after_a_good_run_is_still_refused(
    env: dict[str, str], tmp_path: Path, variable: str, value: str, named: str
) -> None:
    """A kept validation never hides a new mistake: the command fails as it always did."""
    oneshot.load(env, tmp_path)
    with pytest.raises(ConfigError, match=named):
        oneshot.load({**env, variable: value}, tmp_path)


def test_a_yaml_file_made_invalid_after_a_good_run_is_still_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    """An edit that breaks the file is reported, and the broken file is not kept."""
    oneshot.load(env, tmp_path)
    path = Path(env["EPMPULSE_CONFIG"])
    path.write_text(ESTATE.replace("WD2 12:00", "WD2 noon"))
    for _ in range(2):
        with pytest.raises(ConfigError, match="'WD2 noon' is not 'WD<n> HH:MM'"):
            oneshot.load(env, tmp_path)


def test_a_variable_the_yaml_file_needs_going_unset_is_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Unsetting ${EPM_PASSWORD} fails the command, as without a kept layout."""
    oneshot.load(env, tmp_path)
    del env["EPM_PASSWORD"]
    with pytest.raises(ConfigError, match="environment variable EPM_PASSWORD is not set"):
        oneshot.load(env, tmp_path)


def test_the_kept_file_is_private_and_names_no_secret(env: dict[str, str], tmp_path: Path) -> None:
    """Mode 0600; no password, token or key in it, only a keyed digest of them."""
    oneshot.load({**env, "EPMPULSE_API_KEYS": "ci:key-abcdefghijklmnop"}, tmp_path)
    cache = Path(env["EPMPULSE_DATA_DIR"]) / CACHE_FILE
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    text = cache.read_text()
    for secret in (PASSWORD, BOT_TOKEN, "key-abcdefghijklmnop", "svc_epmpulse"):
        assert secret not in text
    kept = json.loads(text)
    assert set(kept) == {
        "format",
        "salt",
        "digest",
        "variables",
        "code",
        "secret_variables",
        "settings",
        "layout",
    }
    assert kept["variables"] == ["BOARD_TITLE", "EPM_PASSWORD"]
    assert kept["secret_variables"] == ["EPM_PASSWORD"]  # its name; the value is nowhere


def test_a_kept_run_still_masks_the_secrets_of_the_environment(
    env: dict[str, str], tmp_path: Path, validations: list[dict[str, str]]
) -> None:
    """Tokens, API keys and the database password are masked in log lines either way."""
    env["EPMPULSE_API_KEYS"] = "ci:key-abcdefghijklmnop, ops:key-qrstuvwxyz0123"
    env["EPMPULSE_DATABASE_URL"] = "postgresql://epm:db-password-42@127.0.0.1/epm"
    first = oneshot.load(env, tmp_path)
    kept = oneshot.load(env, tmp_path)
    assert len(validations) == 1
    wanted = {BOT_TOKEN, "key-abcdefghijklmnop", "key-qrstuvwxyz0123", "db-password-42", PASSWORD}
    assert wanted <= set(kept.secrets)
    assert wanted <= set(first.secrets)
    assert kept.database_url == env["EPMPULSE_DATABASE_URL"]
    assert "db-password-42" not in repr(kept) and BOT_TOKEN not in repr(kept)


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"format": 1}', b'{"salt": "zz", "digest": "", "layout": {}}', b"[]"],
)
def test_a_damaged_kept_file_is_validated_again_and_replaced(
    env: dict[str, str], tmp_path: Path, validations: list[dict[str, str]], content: bytes
) -> None:
    """Whatever is in the file, the command validates and works, and keeps a good file."""
    cache = Path(env["EPMPULSE_DATA_DIR"]) / CACHE_FILE
    cache.write_bytes(content)
    assert oneshot.load(env, tmp_path).layout.resolve_app("fccs") == "FCCS"
    assert len(validations) == 1
    oneshot.load(env, tmp_path)
    assert len(validations) == 1


def test_a_kept_layout_from_another_version_is_not_used(
    env: dict[str, str], tmp_path: Path, validations: list[dict[str, str]], monkeypatch: Any
) -> None:
    """An upgrade validates again: the version is part of the digest."""
    oneshot.load(env, tmp_path)
    monkeypatch.setattr(oneshot, "__version__", "99.0.0")
    oneshot.load(env, tmp_path)
    assert len(validations) == 2


def test_without_a_data_directory_nothing_is_kept(
    env: dict[str, str], tmp_path: Path, validations: list[dict[str, str]]
) -> None:
    """No directory is created for the cache (a database store has no data directory)."""
    env["EPMPULSE_DATA_DIR"] = str(tmp_path / "absent")
    oneshot.load(env, tmp_path)
    oneshot.load(env, tmp_path)
    assert len(validations) == 2
    assert not (tmp_path / "absent").exists()


def test_the_settings_variables_listed_here_are_those_the_settings_read() -> None:
    """The digest covers every variable bot.settings reads, and only those."""
    assert sorted(SETTINGS_ENV_VARS) == sorted(env_var_names())


# pydantic and PyYAML cost more to import than a whole command; a dataclass compiles its
# methods when its class is created, so the one-shot path's classes are named tuples.
_HEAVY = (
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "yaml",
    "annotated_types",
    "dataclasses",
)
_SCRIPT = """
import contextlib, io, json, sys
import bot.cli
argv = json.loads(sys.argv[1])
with contextlib.redirect_stdout(io.StringIO()):
    code = bot.cli.main(argv)
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["status", "Planning", "Actuals"],
        ["set", "FCCS", "Consolidation", "OK", "done"],
        ["history", "Planning", "Actuals"],
        ["export"],
        ["render"],
    ],
    ids=" ".join,
)
def test_after_one_validating_run_one_shot_commands_import_no_pydantic_or_yaml(
    env: dict[str, str], tmp_path: Path, argv: list[str]
) -> None:
    """What makes them fast (SPEC §12): the second command loads no pydantic, no YAML
    parser and no dataclasses."""
    first = _run(["status"], env, tmp_path)
    assert "pydantic" in first["modules"] and "yaml" in first["modules"]  # it validated
    again = _run(argv, env, tmp_path)
    assert again["code"] == 0
    assert [m for m in again["modules"] if m.split(".")[0] in _HEAVY] == []


def test_one_shot_config_of_a_validated_config_keeps_the_log_level_only_when_set(
    env: dict[str, str], tmp_path: Path
) -> None:
    """EPMPULSE_LOG_LEVEL given wins; not given, the command picks its own default."""
    given = OneShotConfig.of(bot.config.load_config({**env, "EPMPULSE_LOG_LEVEL": "debug"}))
    assert given.log_level == "DEBUG"
    assert OneShotConfig.of(bot.config.load_config(env)).log_level is None


def test_a_file_edited_while_it_is_validated_is_not_kept(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The layout kept is always the one of the bytes its digest covers."""
    real = bot.config.load_config

    def edited_meanwhile(*args: Any, **kwargs: Any) -> bot.config.Config:
        config = real(*args, **kwargs)
        _edit_yaml(env)  # saved by an editor after validation read it
        return config

    monkeypatch.setattr(bot.config, "load_config", edited_meanwhile)
    assert "Budget" not in oneshot.load(env, tmp_path).layout.apps["Planning"].domains
    assert not (Path(env["EPMPULSE_DATA_DIR"]) / CACHE_FILE).exists()
    monkeypatch.setattr(bot.config, "load_config", real)
    assert "Budget" in oneshot.load(env, tmp_path).layout.apps["Planning"].domains


HOLIDAY_ESTATE = """\
close:
  timezone: Europe/London
  holidays: {country: GB, subdivision: ENG}
  deadlines:
    Planning/Actuals: WD2 12:00
    FCCS/Consolidation: WD4 17:00
"""


@pytest.fixture
def holiday_env(env: dict[str, str]) -> dict[str, str]:
    """A close calendar that counts English public holidays."""
    Path(env["EPMPULSE_CONFIG"]).write_text(HOLIDAY_ESTATE, encoding="utf-8")
    return env


def test_a_holiday_country_keeps_three_years_of_public_holidays(
    holiday_env: dict[str, str], tmp_path: Path, validations: list[dict[str, str]]
) -> None:
    """Last year, this year and next year; every deadline is the one the package gives."""
    oneshot.load(holiday_env, tmp_path)
    kept = oneshot.load(holiday_env, tmp_path).layout
    assert len(validations) == 1
    assert kept.close is not None
    year = utcnow().year
    assert sorted(kept.close.known_holidays) == [year - 1, year, year + 1]
    assert date(year, 12, 25) in kept.close.known_holidays[year]
    apps = {name: app.domains for name, app in kept.apps.items()}
    from_kept = CloseCalendar.from_config(kept.close, apps, "UTC")
    config = bot.config.load_config(holiday_env)
    asked = CloseCalendar.from_config(config.estate.layout.close, apps, "UTC")
    for period in [f"{y}-{m:02d}" for y in (year - 1, year) for m in range(1, 13)]:
        for key in (("Planning", "Actuals"), ("FCCS", "Consolidation")):
            assert from_kept.due_at(period, key) == asked.due_at(period, key), (period, key)


def test_another_holidays_release_validates_again(
    holiday_env: dict[str, str],
    tmp_path: Path,
    validations: list[dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Upgrading the ``holidays`` package (new public holidays) works them out again."""
    oneshot.load(holiday_env, tmp_path)
    oneshot.load(holiday_env, tmp_path)
    assert len(validations) == 1
    monkeypatch.setattr(oneshot, "_holidays_release", lambda: "holidays-upgraded")
    oneshot.load(holiday_env, tmp_path)
    assert len(validations) == 2


def test_the_installed_holidays_release_is_named_by_its_files() -> None:
    """Where the package is and its size and time, found without importing it."""
    release = oneshot._holidays_release()
    assert release is not None and "holidays" in release
    assert release == oneshot._holidays_release()


@pytest.mark.parametrize(
    "argv",
    [["status", "Planning", "Actuals"], ["set", "Planning", "Actuals", "OK"], ["render"]],
    ids=" ".join,
)
def test_after_one_validating_run_deadlines_need_no_holidays_import(
    holiday_env: dict[str, str], tmp_path: Path, argv: list[str]
) -> None:
    """The commands that show deadlines read the kept holidays instead of the package."""
    assert "holidays" in _run(["status", "Planning", "Actuals"], holiday_env, tmp_path)["modules"]
    again = _run(argv, holiday_env, tmp_path)
    assert again["code"] == 0
    assert [m for m in again["modules"] if m.split(".")[0] in (*_HEAVY, "holidays")] == []


def test_a_change_to_the_code_that_validated_validates_again(
    env: dict[str, str],
    tmp_path: Path,
    validations: list[dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new release or an edit of a validating module (same version number) is noticed."""
    oneshot.load(env, tmp_path)
    kept = json.loads((Path(env["EPMPULSE_DATA_DIR"]) / CACHE_FILE).read_text())
    validating = {
        Path(f).relative_to(Path(bot.config.__file__).parent.parent) for f in kept["code"]
    }
    assert {
        Path("bot/config.py"),
        Path("bot/settings.py"),
        Path("bot/close/config.py"),
    } <= validating
    real = oneshot._file_stamp
    edited = str(bot.config.__file__)
    monkeypatch.setattr(
        oneshot, "_file_stamp", lambda path: real(path) + ("+edit" if path == edited else "")
    )
    oneshot.load(env, tmp_path)
    assert len(validations) == 2


def test_a_missing_file_has_a_stamp_that_matches_no_present_one(tmp_path: Path) -> None:
    """A module file gone (a reinstall in progress) is a miss, not a crash."""
    assert oneshot._file_stamp(str(tmp_path / "gone.py")).endswith(":missing")


def test_the_known_holidays_follow_the_year(
    holiday_env: dict[str, str],
    tmp_path: Path,
    validations: list[dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On the first command of a new year the holidays are worked out again, for it."""
    oneshot.load(holiday_env, tmp_path)
    year = utcnow().year
    later = datetime(year + 1, 1, 1, 0, 0, 1, tzinfo=UTC)
    monkeypatch.setattr(oneshot, "utcnow", lambda: later)
    kept = oneshot.load(holiday_env, tmp_path).layout
    assert len(validations) == 2
    assert kept.close is not None and sorted(kept.close.known_holidays) == [
        year,
        year + 1,
        year + 2,
    ]


def test_a_variable_the_yaml_file_names_through_an_escape_is_covered(
    env: dict[str, str], tmp_path: Path
) -> None:
    """YAML's "\\x24{PW}" is ${PW} after parsing: validation records it, so unsetting it
    is refused even with a kept layout."""
    path = Path(env["EPMPULSE_CONFIG"])
    path.write_text(ESTATE.replace("title: ${BOARD_TITLE}", 'title: "T \\x24{PW}"'))
    env["PW"] = "pw-value"
    oneshot.load(env, tmp_path)
    del env["PW"]
    with pytest.raises(ConfigError, match="environment variable PW is not set"):
        oneshot.load(env, tmp_path)


def test_a_database_store_keeps_nothing_in_a_data_directory_it_was_not_given(
    env: dict[str, str], tmp_path: Path
) -> None:
    """With EPMPULSE_DATABASE_URL, a ./data that happens to be there is left alone."""
    del env["EPMPULSE_DATA_DIR"]
    env["EPMPULSE_DATABASE_URL"] = "postgresql://127.0.0.1/epm"
    (tmp_path / "data").mkdir(exist_ok=True)
    oneshot.load(env, tmp_path)
    assert not (tmp_path / "data" / CACHE_FILE).exists()
    env["EPMPULSE_DATA_DIR"] = str(tmp_path / "data")  # named: kept there
    oneshot.load(env, tmp_path)
    assert (tmp_path / "data" / CACHE_FILE).exists()
