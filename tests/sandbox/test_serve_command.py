"""``epmpulse sandbox``: its printed lines are all ``check`` and ``run`` need (SPEC §19)."""

from __future__ import annotations

import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.sandbox.serve import READY, send_line
from bot.sandbox.slack import SlackSandbox
from tests.conftest import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 30.0


def base_env() -> dict[str, str]:
    """The test's environment without any EPMPULSE or Slack setting of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EPMPULSE_", "SLACK_", "EPM_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


class Output:
    """A process's stdout lines, read by a thread so every wait is bounded."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        stream = proc.stdout

        def pump() -> None:
            for line in stream:
                self.lines.put(line.rstrip("\n"))
            self.lines.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, last: str, timeout: float) -> list[str]:
        """Lines up to and including ``last``; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no {last!r} within {timeout:g} s: {self.seen}") from None
            if line is None:
                raise AssertionError(f"output ended before {last!r}: {self.seen}")
            self.seen.append(line)
            if line == last:
                return list(self.seen)


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Output]]:
    """``epmpulse sandbox`` running, stdin not a terminal; stopped at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox"],
        cwd=tmp_path,
        env=base_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, Output(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def exported(lines: list[str]) -> dict[str, str]:
    """The ``export NAME=VALUE`` lines as a mapping, as a shell would read them."""
    found = {}
    for line in lines:
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = shlex.split(value)[0]
    return found


def test_its_lines_let_check_and_run_work_and_a_rest_call_land(
    sandbox_process: tuple[subprocess.Popen[str], Output], tmp_path: Path
) -> None:
    """Pasted into another shell, the lines make check pass and run serve the REST API."""
    proc, output = sandbox_process
    env = exported(output.until(READY, START_SECONDS))
    assert {"SLACK_API_URL", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_CHANNEL_ID"} <= set(env)
    assert {"EPM_BASE_URL", "EPM_USERNAME", "EPM_PASSWORD", "EPMPULSE_KEY"} <= set(env)
    shell = {**base_env(), **env}

    check = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        cwd=tmp_path,
        env=shell,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    results = check.stdout.splitlines()
    assert [line.split(":")[0] for line in results] == [
        "ok   config",
        "ok   store",
        "ok   slack",
        "ok   socket mode",
        "ok   channel",
        "ok   canvas",
        "ok   epm sandbox",
        "ok   proxy",
    ]
    assert "Vision found" in results[6]
    assert not Path(env["EPMPULSE_DATA_DIR"]).exists()  # check creates nothing
    assert check.stderr == ""

    port = free_port()
    run = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env={**shell, "EPMPULSE_HTTP_PORT": str(port), "EPMPULSE_LOG_FORMAT": "text"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1"
        headers = {"Authorization": f"Bearer {env['EPMPULSE_KEY']}"}

        def answers() -> bool:
            assert run.poll() is None, "run exited"
            try:
                requests.get(f"{url}/health", timeout=2)
            except requests.ConnectionError:
                return False
            return True

        wait_until(answers, "run's REST API to answer", START_SECONDS, interval=0.1)
        posted = requests.post(
            f"{url}/status",
            json={"app": "Planning", "domain": "Actuals", "status": "OK", "message": "curl"},
            headers=headers,
            timeout=10,
        )
        assert posted.status_code == 200, posted.text
        record = requests.get(f"{url}/status/Planning/Actuals", headers=headers, timeout=10)
        assert record.json()["data"]["status"] == "OK"
        assert record.json()["data"]["updated_by"] == "api:sandbox"
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=20)

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    assert output.until("# Sandboxes stopped.", 5)
    assert not Path(env["EPMPULSE_CONFIG"]).parent.exists()  # its temporary directory


def test_sigterm_stops_it_too(sandbox_process: tuple[subprocess.Popen[str], Output]) -> None:
    """SIGTERM (a service manager, `timeout`) stops both sandboxes as Ctrl-C does."""
    proc, output = sandbox_process
    output.until(READY, START_SECONDS)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert output.until("# Sandboxes stopped.", 5)


def test_a_typed_command_without_a_running_app_says_what_to_start() -> None:
    """A line typed before any ``run`` connected gets an answer, not a wait."""
    with SlackSandbox() as slack:
        assert send_line(slack, "/epmpulse status", timeout=1) == [
            "no app is connected: start `epmpulse run` in another shell first"
        ]


def test_a_port_in_use_is_bad_input_naming_the_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--epm-port`` on a busy port: exit 2 with the port and what to do, nothing printed."""
    from bot.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["sandbox", "--epm-port", str(port)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert f"the EPM sandbox cannot listen on 127.0.0.1:{port}" in out.err
    assert "choose another port" in out.err
