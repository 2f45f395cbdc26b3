"""``epmpulse sandbox``: the bundled Slack and EPM sandboxes, served for people (SPEC §19).

Both sandboxes start on 127.0.0.1 in the foreground. What ``epmpulse check`` and
``epmpulse run`` need in another shell is printed as ``export`` lines: the Slack Web
API URL and the tokens it accepts, the channel, the EPM server's base URL and
credentials (read by a small estate YAML file through ``${VAR}``), a data directory and
an API key for curl. Lines typed on a terminal are sent as ``/epmpulse`` commands from
a sandbox user and the app's reply is printed, so the bot can be tried as in Slack.
Ctrl-C (or SIGTERM) stops both sandboxes and removes the temporary directory.

With ``--env-file PATH`` the ``export`` lines are also written to PATH, for EPMPulse in
another container to source (compose.yaml's ``sandbox`` profile). The temporary
directory is then made beside PATH, so a container that mounts PATH's directory at the
same place reads the estate file too. Both are removed when the sandbox stops.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TypeVar

from bot.errors import ValidationError
from bot.sandbox.epm import EpmSandbox
from bot.sandbox.slack import DEFAULT_CHANNEL_ID, DEFAULT_COMMAND, SandboxError, SlackSandbox

API_KEY_NAME, API_KEY = "sandbox", "sandbox-key"
EPM_SERVER = "sandbox"
READY = "# Ready."
REPLY_SECONDS = 5.0
Emit = Callable[[str], None]
Served = TypeVar("Served", SlackSandbox, EpmSandbox)


class SandboxPortError(ValidationError):
    """A port given with --slack-port or --epm-port is in use (bad input: exit 2)."""


# The estate `run` reads: the built-in apps, Planning on the sandbox's EPM server. The
# server's URL and credentials come from the environment lines, as a real one's would.
ESTATE_YAML = f"""\
apps:
  Planning:
    domains: [Actuals, Forecast, Budget]
    server: {EPM_SERVER}
  FCCS:
    domains: [Actuals, Consolidation]
  ARCS:
    domains: [Reconciliation]
epm:
  servers:
    {EPM_SERVER}:
      kind: planning
      base_url: ${{EPM_BASE_URL}}
      application: Vision
      auth: {{type: basic, username: "${{EPM_USERNAME}}", password: "${{EPM_PASSWORD}}"}}
"""


def environment(slack: SlackSandbox, epm: EpmSandbox, workdir: Path) -> dict[str, str]:
    """The variables ``check`` and ``run`` need to work against the running sandboxes."""
    return {
        "SLACK_API_URL": slack.api_url,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_CHANNEL_ID": DEFAULT_CHANNEL_ID,
        "EPM_BASE_URL": epm.base_url,
        "EPM_USERNAME": epm.username,
        "EPM_PASSWORD": epm.password,
        "EPMPULSE_CONFIG": str(workdir / "epmpulse.yml"),
        "EPMPULSE_DATA_DIR": str(workdir / "data"),
        "EPMPULSE_API_KEYS": f"{API_KEY_NAME}:{API_KEY}",
        "EPMPULSE_KEY": API_KEY,
    }


def export_lines(env: dict[str, str]) -> list[str]:
    """``env`` as POSIX shell ``export`` lines, each value quoted."""
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


def banner(env: dict[str, str]) -> list[str]:
    """What the sandbox prints once both servers listen: the lines to paste, then how."""
    lines = [
        f"# Slack sandbox: {env['SLACK_API_URL']} (channel #general, {DEFAULT_CHANNEL_ID})",
        f"# EPM sandbox:   {env['EPM_BASE_URL']} (planning application Vision)",
        "# Paste these lines into another shell, then run `epmpulse check` and `epmpulse run`:",
        *export_lines(env),
    ]
    lines += [
        "# A second instance needs EPMPULSE_DATABASE_URL (PostgreSQL, shared by both) and its",
        "# own EPMPULSE_HTTP_PORT, e.g. 8081. The REST API (first instance):",
        '#   curl -H "Authorization: Bearer $EPMPULSE_KEY" http://127.0.0.1:8080/api/v1/status',
        f"# Type a command here (e.g. `status`, `close`) to send it as {DEFAULT_COMMAND} from",
        "# #general once `run` is connected. Ctrl-C stops the sandboxes and removes "
        + str(Path(env["EPMPULSE_CONFIG"]).parent),
        READY,
    ]
    return lines


def send_line(slack: SlackSandbox, line: str, timeout: float = REPLY_SECONDS) -> list[str]:
    """Send a typed line as ``/epmpulse …`` and return the lines of the app's reply."""
    # Imported here: the reply formatting lives with the demo, which loads the whole app.
    from bot.demo_scenario import reply_lines

    text = line.strip().removeprefix(DEFAULT_COMMAND).strip()
    if slack.connection_count == 0:
        return ["no app is connected: start `epmpulse run` in another shell first"]
    before = len(slack.responses())
    try:
        ack = slack.send_command(text, timeout=timeout)
        if ack.payload and (ack.payload.get("text") or ack.payload.get("blocks")):
            return reply_lines(ack.payload)
        post = slack.wait_for_response(count=before + 1, timeout=timeout)
    except (SandboxError, TimeoutError) as exc:
        return [f"no reply: {exc}"]
    return reply_lines(post.body)


def serve(
    emit: Emit,
    lines: Iterable[str] | None,
    *,
    slack_port: int = 0,
    epm_port: int = 0,
    env_file: Path | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve both sandboxes until ``stop`` is set (or, with ``lines``, they run out).

    ``lines`` are the typed commands (a terminal's stdin), or None to only serve;
    ``env_file`` also receives the ``export`` lines while the sandboxes run.
    """
    stop = stop or threading.Event()
    with (
        tempfile.TemporaryDirectory(
            prefix="epmpulse-sandbox-", dir=None if env_file is None else env_file.parent
        ) as tmp,
        _listening("Slack", slack_port, SlackSandbox(port=slack_port)) as slack,
        _listening("EPM", epm_port, EpmSandbox(port=epm_port)) as epm,
        _written(env_file) as write_env,
    ):
        workdir = Path(tmp)
        (workdir / "epmpulse.yml").write_text(ESTATE_YAML, encoding="utf-8")
        env = environment(slack, epm, workdir)
        write_env(export_lines(env))
        for line in banner(env):
            emit(line)
        for typed in lines or ():
            if stop.is_set():
                break
            if typed.strip():
                for reply in send_line(slack, typed):
                    emit(f"  {reply}")
        stop.wait()
    emit("# Sandboxes stopped.")


@contextmanager
def _listening(name: str, port: int, sandbox: Served) -> Iterator[Served]:
    """``sandbox`` started (stopped at the end); a port in use is a clear SandboxPortError."""
    try:
        sandbox.start()
    except OSError as exc:
        raise SandboxPortError(
            f"the {name} sandbox cannot listen on 127.0.0.1:{port}: {exc.strerror}; "
            "choose another port, or leave the option out for any free one"
        ) from exc
    try:
        yield sandbox
    finally:
        sandbox.stop()


@contextmanager
def _written(path: Path | None) -> Iterator[Callable[[list[str]], None]]:
    """A writer of ``path`` (whole, by rename: a reader never sees half); removed at the end."""

    def write(lines: list[str]) -> None:
        if path is None:
            return
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(partial, path)

    try:
        yield write
    finally:
        if path is not None:
            path.unlink(missing_ok=True)


def run(emit: Emit, slack_port: int = 0, epm_port: int = 0, env_file: Path | None = None) -> None:
    """The command: serve until Ctrl-C or SIGTERM; typed lines when stdin is a terminal."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        raise KeyboardInterrupt  # ends a blocked read of the next typed line

    previous = signal.signal(signal.SIGTERM, on_signal)
    typed = sys.stdin if sys.stdin is not None and sys.stdin.isatty() else None
    try:
        serve(emit, typed, slack_port=slack_port, epm_port=epm_port, env_file=env_file, stop=stop)
    except KeyboardInterrupt:
        emit("# Sandboxes stopped.")
    finally:
        signal.signal(signal.SIGTERM, previous)
