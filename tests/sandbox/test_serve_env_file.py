"""``epmpulse sandbox --env-file PATH``: the lines for another container (compose.yaml)."""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
from pathlib import Path

from bot.sandbox.serve import READY, serve
from tests.conftest import wait_until


def test_the_env_file_holds_the_printed_lines_and_goes_with_the_sandbox(tmp_path: Path) -> None:
    """A shell that sources the file gets what was printed; stopping removes file and dir."""
    shared = tmp_path / "shared"
    shared.mkdir()
    env_file = shared / "sandbox.env"
    printed: list[str] = []
    stop = threading.Event()
    server = threading.Thread(
        target=serve, args=(printed.append, None), kwargs={"env_file": env_file, "stop": stop}
    )
    server.start()
    try:
        wait_until(lambda: READY in printed, "the sandbox to be ready", timeout=30)
        exported = [line for line in printed if line.startswith("export ")]
        assert env_file.read_text(encoding="utf-8").splitlines() == exported

        sourced = subprocess.run(
            ["sh", "-c", f". {shlex.quote(str(env_file))} && env"],
            env={"PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.splitlines()
        names = [line.removeprefix("export ").partition("=")[0] for line in exported]
        values = dict(line.partition("=")[::2] for line in sourced)
        assert {name: values[name] for name in names} == {
            name: shlex.split(line.partition("=")[2])[0]
            for name, line in zip(names, exported, strict=True)
        }
        estate = Path(values["EPMPULSE_CONFIG"])
        assert estate.parent.parent == shared  # readable where the env file is mounted
        assert "server: sandbox" in estate.read_text(encoding="utf-8")
    finally:
        stop.set()
        server.join(timeout=15)
    assert not server.is_alive()
    assert printed[-1] == "# Sandboxes stopped."
    assert list(shared.iterdir()) == []  # the file and the temporary directory are gone
