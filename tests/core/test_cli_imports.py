"""One-shot commands load no Slack, HTTP-server or EPM code (SPEC §9, §12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("fastapi", "starlette", "uvicorn", "slack_bolt", "slack_sdk", "requests", "apscheduler")
HEAVY_BOT = ("bot.epm", "bot.api", "bot.slack", "bot.sandbox", "bot.runtime", "bot.app")

_SCRIPT = """
import contextlib, io, json, sys
import bot.cli
loaded = {"import": sorted(sys.modules)}
for argv in (["status"], ["set", "Planning", "Actuals", "OK", "done"], ["status", "Planning"],
             ["status", "Planning", "Actuals"], ["history", "Planning", "Actuals"],
             ["export"], ["render"]):
    with contextlib.redirect_stdout(io.StringIO()):
        code = bot.cli.main(argv)
    assert code == 0, (argv, code)
    loaded[argv[0]] = sorted(sys.modules)
print(json.dumps(loaded))
"""


def _heavy(modules: list[str]) -> list[str]:
    return [
        m
        for m in modules
        if m.split(".")[0] in HEAVY or any(m == b or m.startswith(b + ".") for b in HEAVY_BOT)
    ]


def run_script(script: str, cwd: Path, env: dict[str, str]) -> str:
    """The stdout of ``script`` run by a fresh interpreter (which must exit 0)."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_one_shot_commands_import_no_slack_http_or_epm_code(tmp_path: Path) -> None:
    """`import bot.cli` and status, set, history, export and render load none of the heavy parts."""
    env = {**os.environ, "EPMPULSE_DATA_DIR": str(tmp_path / "data")}
    env.pop("EPMPULSE_CONFIG", None)
    loaded = json.loads(run_script(_SCRIPT, tmp_path, env))
    assert set(loaded) == {"import", "status", "set", "history", "export", "render"}
    for stage, modules in loaded.items():
        assert _heavy(modules) == [], stage
    assert "prometheus_client" not in loaded["set"]
    # The settings' defaults are not validated: checking the rate limits imports `limits`.
    for modules in loaded.values():
        assert "limits" not in modules and "bot.ratelimit_settings" not in modules


_HOLIDAYS = """
import contextlib, io, sys
import bot.cli
with contextlib.redirect_stdout(io.StringIO()):
    code = bot.cli.main(["status", "Planning", "Actuals"])
assert code == 0, code
print("holidays" in sys.modules)
"""
CLOSE_YAML = """\
apps:
  Planning: {domains: [Actuals], server: planning}
epm:
  servers:
    planning:
      kind: planning
      base_url: https://planning.example.com
      application: Vision
      auth: {type: basic, username: ops, password: "${EPM_PASSWORD}"}
close:
  holidays: {country: GB, subdivision: ENG}
  deadlines: {Planning/Actuals: "WD2 12:00"}
"""


def test_public_holidays_are_worked_out_once_and_nothing_secret_is_written(
    tmp_path: Path,
) -> None:
    """The first status under a GB close imports `holidays`; the next, after an edit of the
    YAML, reads the kept holidays; no file in the data directory holds a secret."""
    (tmp_path / "epmpulse.yml").write_text(CLOSE_YAML, encoding="utf-8")
    env = {
        **os.environ,
        "EPMPULSE_DATA_DIR": str(tmp_path / "data"),
        "EPMPULSE_CONFIG": str(tmp_path / "epmpulse.yml"),
        "EPM_PASSWORD": "pw-secret-42",
        "SLACK_BOT_TOKEN": "xoxb-token-secret-43",
    }

    def holidays_imported() -> bool:
        return bool(json.loads(run_script(_HOLIDAYS, tmp_path, env).strip().lower()))

    assert holidays_imported() is True
    with open(tmp_path / "epmpulse.yml", "a", encoding="utf-8") as handle:
        handle.write("canvas: {title: Close board}\n")
    assert holidays_imported() is False
    kept = json.loads((tmp_path / "data" / "holidays.json").read_text(encoding="utf-8"))
    assert any(key.startswith("GB/ENG/") for key in kept)
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"pw-secret-42" not in data and b"secret-43" not in data, path
