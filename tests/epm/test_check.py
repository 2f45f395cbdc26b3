"""``epmpulse check`` reaches every EPM server and prints one line per check."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bot import cli
from bot.sandbox.epm import EpmSandbox
from bot.sandbox.slack import SlackSandbox
from tests.epm.conftest import server_doc


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    """``cli.main`` installs its own log handler; later tests must not write to it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def run_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers: dict[str, Any]) -> int:
    """Run ``epmpulse check`` with these EPM servers and a working Slack; the exit code."""
    path = tmp_path / "epmpulse.yml"
    path.write_text(yaml.safe_dump({"epm": {"servers": servers}}, sort_keys=False))
    monkeypatch.setenv("EPMPULSE_CONFIG", str(path))
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))
    with SlackSandbox() as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.bot_token)
        monkeypatch.setenv("SLACK_APP_TOKEN", slack.app_token)
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        monkeypatch.setenv("SLACK_CANVAS_ID", slack.create_canvas("# EPM Status"))
        return cli.main(["check"])


def test_check_passes_when_every_server_answers(
    epm: EpmSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Config plus one ok line per server (with its auth mode), exit 0."""
    servers = {
        "planning": server_doc(epm),
        "di": server_doc(epm, "data_integration", "oauth_refresh_token"),
        "arcs": server_doc(epm, "arcs", "oauth_client_credentials"),
    }
    code = run_check(tmp_path, monkeypatch, servers)
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].startswith("ok   config: 3 app(s), 6 domain(s): Planning (")
    assert lines[0].endswith("; EPM server(s): planning, di, arcs")
    assert [line.split(":")[0] for line in lines[1:]] == [
        "ok   store",
        "ok   slack",
        "ok   socket mode",
        "ok   channel",
        "ok   canvas",
        "ok   epm planning",
        "ok   epm di",
        "ok   epm arcs",
        "ok   proxy",
    ]
    assert "oauth_refresh_token auth accepted" in lines[7]
    # The refresh token was used up: its rotation is kept (the only thing check writes).
    assert (tmp_path / "data" / "tokens" / "di.json").exists()


def test_check_fails_when_a_server_refuses_or_is_down(
    epm: EpmSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A refused password and a dead server each print FAIL; the exit code is 1."""
    refused = server_doc(epm)
    refused["auth"]["password"] = "wrong-password"
    down = server_doc(epm, "arcs")
    down["base_url"] = "http://127.0.0.1:9"  # discard port: nothing listens
    down["timeout_seconds"] = 0.5
    servers = {"good": server_doc(epm), "refused": refused, "down": down}
    code = run_check(tmp_path, monkeypatch, servers)
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[6].startswith("ok   epm good")
    assert lines[7].startswith("FAIL epm refused") and "HTTP 401" in lines[7]
    assert lines[8].startswith("FAIL epm down") and "unreachable" in lines[8]
    assert "wrong-password" not in "\n".join(lines)


def test_check_fails_with_exit_2_on_a_bad_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid config is a configuration error (exit 2, SPEC §19), every problem listed."""
    code = run_check(tmp_path, monkeypatch, {"x": {"kind": "nope"}})
    assert code == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "FAIL config: 3 problem(s)"
    assert [line.split(": ")[1] for line in lines[1:]] == [
        "epm.servers.x.kind",
        "epm.servers.x.base_url",
        "epm.servers.x.auth",
    ]


def test_check_names_the_planning_application_it_found(
    epm: EpmSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The planning line says the configured application was found among those listed."""
    code = run_check(tmp_path, monkeypatch, {"planning": server_doc(epm)})
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[6].startswith("ok   epm planning")
    assert "planning: Vision found (applications: Vision)" in lines[6]


def test_check_fails_on_a_misspelt_application_naming_the_ones_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An application the server does not list fails, naming those it has and the closest."""
    with EpmSandbox(username="svc_epm", password="pw-1", applications=("Vision", "Demo")) as epm:
        code = run_check(tmp_path, monkeypatch, {"fc": server_doc(epm, application="Visoin")})
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[6].startswith("FAIL epm fc")
    assert "application 'Visoin' not found on planning; it has: Vision, Demo" in lines[6]
    assert "did you mean 'Vision'?" in lines[6]


def test_check_fails_on_a_base_url_ending_in_epmcloud_saying_why(
    epm: EpmSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A base URL with /epmcloud gets 404 on the applications list: check says to drop it."""
    doc = server_doc(epm, base_url=epm.base_url + "/epmcloud")
    code = run_check(tmp_path, monkeypatch, {"planning": doc})
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[6].startswith("FAIL epm planning")
    assert "HTTP 404: the base URL is wrong" in lines[6]
    assert "without any context such as /epmcloud" in lines[6]
    assert "drop the trailing /epmcloud" in lines[6]


def test_the_sandbox_lists_its_applications_only_at_oracles_path() -> None:
    """GET .../rest/v3/applications lists the configured applications; /epmcloud/... is 404."""
    with EpmSandbox(username="u", password="p", applications=("Vision", "Demo")) as epm:
        listed = requests.get(
            epm.base_url + "/HyperionPlanning/rest/v3/applications", auth=("u", "p"), timeout=5
        )
        refused = requests.get(
            epm.base_url + "/HyperionPlanning/rest/v3/applications", auth=("u", "x"), timeout=5
        )
        prefixed = requests.get(
            epm.base_url + "/epmcloud/HyperionPlanning/rest/v3/applications",
            auth=("u", "p"),
            timeout=5,
        )
    assert listed.status_code == 200
    assert [(item["name"], item["type"]) for item in listed.json()["items"]] == [
        ("Vision", "HP"),
        ("Demo", "HP"),
    ]
    assert refused.status_code == 401
    assert prefixed.status_code == 404
