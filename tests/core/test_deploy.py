"""The Dockerfile and the systemd unit start a working ``epmpulse run``.

No Docker daemon and no systemd: each file is read the way its tool reads it, the
command line it would run is built from it (paths mapped into a temp directory, the
``epmpulse`` script run as ``python -m bot``, which SPEC §1 makes the same CLI) and run
against the Slack sandbox until the health check passes; SIGTERM then stops it cleanly.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from bot.cli import EXIT_BAD_INPUT
from bot.config import load_config
from bot.sandbox.slack import DEFAULT_CHANNEL_ID, SlackSandbox
from tests.conftest import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
UNIT = ROOT / "deploy" / "epmpulse.service"
ENV_EXAMPLE = ROOT / "deploy" / "epmpulse.env.example"
YAML_EXAMPLE = ROOT / "deploy" / "epmpulse.example.yml"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


# --- reading the files ------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with ``\\`` continuations joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, rest = whole.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def docker_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """Every ``ENV KEY=value …`` of the image, later ones overriding earlier ones."""
    env: dict[str, str] = {}
    for keyword, rest in instructions:
        if keyword == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def exec_form(rest: str) -> list[str]:
    """A JSON (exec form) argument list, as ENTRYPOINT/CMD/HEALTHCHECK CMD take it."""
    argv = json.loads(rest)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), rest
    return argv


def last(instructions: list[tuple[str, str]], keyword: str) -> str:
    """The arguments of the last ``keyword`` instruction (the one Docker uses)."""
    found = [rest for kw, rest in instructions if kw == keyword]
    assert found, f"no {keyword} in the Dockerfile"
    return found[-1]


def unit_sections(text: str) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit as {section: [(key, value), …]}, keeping repeated keys in order."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections.setdefault(current, [])
            continue
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def values(entries: list[tuple[str, str]], key: str) -> list[str]:
    """Every value of ``key`` in one unit section."""
    return [value for k, value in entries if k == key]


def environment_file(text: str) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= (and ``docker --env-file``) read them."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


# --- running what they describe ---------------------------------------------------------


def as_python(argv: list[str], script: str) -> list[str]:
    """``argv`` with the ``epmpulse`` console script run as ``python -m bot``."""
    assert Path(argv[0]).name == script, argv
    return [sys.executable, "-m", "bot", *argv[1:]]


def base_environment() -> dict[str, str]:
    """The test process's environment without EPMPulse or Slack settings, code on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "EPMPULSE_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    """A Slack sandbox for the started process to talk to."""
    with SlackSandbox() as sandbox:
        yield sandbox


def slack_settings(sandbox: SlackSandbox) -> dict[str, str]:
    """The Slack settings pointing at ``sandbox``."""
    return {
        "SLACK_BOT_TOKEN": sandbox.bot_token,
        "SLACK_APP_TOKEN": sandbox.app_token,
        "SLACK_API_URL": sandbox.api_url,
        "SLACK_CHANNEL_ID": DEFAULT_CHANNEL_ID,
    }


def run_until_healthy(
    argv: list[str], env: Mapping[str, str], cwd: Path, healthy: list[str]
) -> subprocess.CompletedProcess[str]:
    """Start ``argv``, wait until the ``healthy`` command exits 0, then SIGTERM it."""
    process = subprocess.Popen(
        argv, env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        probe_errors = [b""]

        def is_healthy() -> bool:
            assert process.poll() is None, process.communicate()[1][-3000:]
            probe = subprocess.run(
                healthy, env=dict(env), capture_output=True, timeout=10, check=False
            )
            probe_errors[0] = probe.stderr
            return probe.returncode == 0

        try:
            wait_until(is_healthy, "the health probe to pass", START_TIMEOUT, interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {probe_errors[0].decode()[-2000:]}") from None
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def health_probe(port: int) -> list[str]:
    """A command that exits 0 only when /api/v1/health answers 200."""
    code = (
        "import sys, urllib.request\n"
        f"sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:{port}/api/v1/health',"
        " timeout=4).status == 200 else 1)"
    )
    return [sys.executable, "-c", code]


# --- the Dockerfile ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def docker() -> list[tuple[str, str]]:
    """The Dockerfile's instructions."""
    return dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))


def test_the_image_runs_as_a_user_with_its_data_in_a_volume(
    docker: list[tuple[str, str]],
) -> None:
    """Not root; EPMPULSE_DATA_DIR is the declared volume and the working directory."""
    user = last(docker, "USER")
    assert user not in ("root", "0", "")
    env = docker_env(docker)
    assert exec_form(last(docker, "VOLUME")) == [env["EPMPULSE_DATA_DIR"]]
    assert last(docker, "WORKDIR") == env["EPMPULSE_DATA_DIR"]
    assert last(docker, "EXPOSE") == env["EPMPULSE_HTTP_PORT"]


def test_the_entry_point_is_the_installed_console_script(docker: list[tuple[str, str]]) -> None:
    """ENTRYPOINT + CMD is ``epmpulse run``, and pyproject installs ``epmpulse`` as bot.cli."""
    argv = exec_form(last(docker, "ENTRYPOINT")) + exec_form(last(docker, "CMD"))
    assert argv == ["epmpulse", "run"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["epmpulse"] == "bot.cli:console"


@pytest.mark.slow
def test_the_image_command_line_runs_and_passes_its_health_check(
    docker: list[tuple[str, str]], slack: SlackSandbox, tmp_path: Path
) -> None:
    """The image's ENV, entry point and HEALTHCHECK, with /data in a temp dir, on loopback."""
    image_env = docker_env(docker)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    port = free_port()
    env = {
        **base_environment(),
        **image_env,
        **slack_settings(slack),
        "EPMPULSE_DATA_DIR": str(data),  # the volume
        "EPMPULSE_HTTP_HOST": "127.0.0.1",  # tests stay on loopback (the image: 0.0.0.0)
        "EPMPULSE_HTTP_PORT": str(port),
    }
    argv = exec_form(last(docker, "ENTRYPOINT")) + exec_form(last(docker, "CMD"))
    healthcheck = last(docker, "HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert "--interval" in options
    probe = exec_form(command)
    assert probe[0] == "python" and "/api/v1/health" in probe[-1]
    done = run_until_healthy(
        as_python(argv, "epmpulse"), env, cwd=data, healthy=[sys.executable, *probe[1:]]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (data / "state.json").exists()
    assert "Traceback" not in done.stderr


# --- the systemd unit -------------------------------------------------------------------


@pytest.fixture(scope="module")
def unit() -> dict[str, list[tuple[str, str]]]:
    """The unit's sections."""
    return unit_sections(UNIT.read_text(encoding="utf-8"))


def test_the_unit_does_not_restart_on_a_configuration_error(
    unit: dict[str, list[tuple[str, str]]],
) -> None:
    """Exit 2 (bad configuration) stops the restarts; other failures restart."""
    service = unit["Service"]
    assert values(service, "RestartPreventExitStatus") == [str(EXIT_BAD_INPUT)]
    assert values(service, "Restart") == ["on-failure"]
    assert values(service, "User") == ["epmpulse"]
    assert values(service, "KillSignal") == ["SIGTERM"]


def test_the_example_environment_and_yaml_load_as_they_are(tmp_path: Path) -> None:
    """The shipped examples name real settings and load without a configuration error."""
    env = environment_file(ENV_EXAMPLE.read_text(encoding="utf-8"))
    assert {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_CHANNEL_ID"} <= set(env)
    config = load_config(
        {**env, "EPMPULSE_CONFIG": str(YAML_EXAMPLE), "EPMPULSE_DATA_DIR": str(tmp_path)},
        require_run=True,
    )
    assert list(config.estate.apps) == ["Planning", "FCCS", "ARCS"]
    assert "EPM_USER" in ENV_EXAMPLE.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_unit_exec_start_runs_in_a_temp_dir_and_stops_on_sigterm(
    unit: dict[str, list[tuple[str, str]]], slack: SlackSandbox, tmp_path: Path
) -> None:
    """ExecStart with the unit's Environment= and EnvironmentFile=, paths under tmp_path."""
    service = unit["Service"]
    mapping = {"/etc/epmpulse": tmp_path / "etc", "/var/lib/epmpulse": tmp_path / "state"}

    def mapped(value: str) -> str:
        for real, temp in mapping.items():
            value = value.replace(real, str(temp))
        return value

    etc = mapping["/etc/epmpulse"]
    etc.mkdir()
    [state_directory] = values(service, "StateDirectory")
    state = mapping[f"/var/lib/{state_directory}"]
    state.mkdir(mode=int(values(service, "StateDirectoryMode")[0], 8))
    shutil.copy(YAML_EXAMPLE, etc / "epmpulse.yml")
    port = free_port()
    [env_file] = values(service, "EnvironmentFile")
    settings = {**slack_settings(slack), "EPMPULSE_HTTP_PORT": str(port)}
    Path(mapped(env_file)).write_text(
        "".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8"
    )
    env = base_environment()
    env.update(environment_file(Path(mapped(env_file)).read_text(encoding="utf-8")))
    for assignment in values(service, "Environment"):
        key, _, value = assignment.partition("=")
        env[key] = mapped(value)
    [exec_start] = values(service, "ExecStart")
    [workdir] = values(service, "WorkingDirectory")
    done = run_until_healthy(
        as_python(shlex.split(mapped(exec_start)), "epmpulse"),
        env,
        cwd=Path(mapped(workdir)),
        healthy=health_probe(port),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (state / "state.json").exists()
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    log = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert log and all("level" in entry for entry in log)  # EPMPULSE_LOG_FORMAT=json


def test_the_image_health_probe_fails_on_a_503(docker: list[tuple[str, str]]) -> None:
    """The HEALTHCHECK command exits non-zero when /api/v1/health answers 503."""

    class Unhealthy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = HTTPServer(("127.0.0.1", 0), Unhealthy)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        probe = exec_form(last(docker, "HEALTHCHECK").partition("CMD ")[2])
        env = {**base_environment(), "EPMPULSE_HTTP_PORT": str(server.server_address[1])}
        done = subprocess.run(
            [sys.executable, *probe[1:]], env=env, capture_output=True, timeout=10, check=False
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert done.returncode != 0
    assert b"503" in done.stderr


def test_the_readme_set_up_is_two_commands_in_a_venv_with_the_test_database_beside() -> None:
    """A newcomer on Debian meets a virtual environment, and the test database, at the top."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    set_up = readme.split("## Set-up: two commands", 1)[1].split("\n## ", 1)[0]
    block = set_up.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[0].startswith("python3 -m venv .venv && . .venv/bin/activate && ")
    assert commands[0].endswith("epmpulse demo")
    assert "python3 -m pytest" in commands[1]
    assert "externally-managed-environment" in set_up
    assert "127.0.0.1:5432" in set_up and "database `test`" in set_up
    assert set_up.index("database `test`") < set_up.index("```sh")  # named before the commands


def test_ci_runs_the_readme_test_command_which_builds_the_docs_strictly() -> None:
    """`.ci/run` ends in the README's second command, and that builds the site with --strict."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Set-up: two commands", 1)[1].split("```sh\n", 1)[1].split("```")[0]
    test_command = [line for line in block.splitlines() if line.strip()][1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.rstrip().splitlines()[-1] == test_command
    assert "python3 -m mkdocs build --strict" in test_command
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dev = {re.split(r"[<>=\[]", spec)[0] for spec in project["optional-dependencies"]["dev"]}
    assert {"mkdocs", "mkdocs-material"} <= dev
    site = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert site["strict"] is True and site["theme"]["name"] == "material"
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "/" + site["site_dir"].split("/")[0] + "/" in ignored  # no site in the checkout


def test_the_readme_is_read_in_one_sitting() -> None:
    """At most 300 lines: the rest of what used to be there lives in docs/."""
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 300


def test_the_readme_links_the_reference_and_not_the_shared_spec() -> None:
    """A clone has docs/reference.md; the README points there, not to a shared folder."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert "(docs/reference.md)" in readme
    assert "shared folder" not in readme and "SPEC.md" not in readme
    for section in ("## Create the Slack app", "## Run in production"):
        assert section in readme
    for section in ("## Command line", "## Configuration", "## REST API", "## Error codes"):
        assert section in reference


def test_the_docs_list_every_setting_and_error_code() -> None:
    """Each environment variable the settings read is on the settings page (the reference
    links it), and each REST error code is in the reference."""
    from bot.api.errors import ErrorCode
    from bot.settings import env_var_names

    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    settings = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert "(settings.md)" in reference
    assert {"EPMPULSE_API_KEYS", "EPMPULSE_EDITORS", "PORT"} <= set(env_var_names())
    for variable in env_var_names():
        assert f"`{variable}`" in settings, variable
    for code in ErrorCode:
        assert f"`{code.value}`" in reference, code
