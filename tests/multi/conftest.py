"""Several ``epmpulse run`` processes on one PostgreSQL database and one Slack sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.sandbox.slack import SlackSandbox
from tests.conftest import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
ALERT_CHANNEL = "C0ALERTS"
API_KEY = "multi-key"
LEADER_TIMEOUT = 3.0
LEADER_ONLY_PARTS = ("canvas", "alerts", "epm", "close")  # close: with a calendar only
START_TIMEOUT = 30.0


@dataclass
class Instance:
    """One ``epmpulse run`` process and its REST API."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        """The REST API base URL."""
        return f"http://127.0.0.1:{self.port}/api/v1"

    def health(self) -> dict[str, Any] | None:
        """The /health data, or None while the API does not answer."""
        try:
            answer = requests.get(f"{self.url}/health", timeout=2)
        except requests.RequestException:
            return None
        data: dict[str, Any] = answer.json()["data"]
        return data

    def is_leader(self) -> bool:
        """Whether /health says this instance leads."""
        health = self.health()
        return bool(health and health.get("leader"))

    def on_standby(self) -> bool:
        """Whether /health says every leader-only part is halted (SPEC §10): none of them
        can post, publish or poll from here on."""
        checks = (self.health() or {}).get("checks", {})
        parts = [checks[part] for part in LEADER_ONLY_PARTS if part in checks]
        return bool(parts) and all(c["detail"].startswith("standby") for c in parts)

    def set(self, app: str, domain: str, status: str, message: str = "") -> None:
        """POST /status through this instance."""
        answer = requests.post(
            f"{self.url}/status",
            json={"app": app, "domain": domain, "status": status, "message": message},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text

    def get(self, app: str, domain: str) -> dict[str, Any]:
        """GET /status/APP/DOMAIN through this instance."""
        answer = requests.get(
            f"{self.url}/status/{app}/{domain}",
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data

    def kill(self) -> None:
        """SIGKILL: no clean stop, no lock release but the one the server does."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def cluster_env(sandbox: SlackSandbox, canvas_id: str, pg_url: str) -> dict[str, str]:
    """The environment every instance shares."""
    return {
        "SLACK_BOT_TOKEN": sandbox.bot_token,
        "SLACK_APP_TOKEN": sandbox.app_token,
        "SLACK_API_URL": sandbox.api_url,
        "SLACK_CANVAS_ID": canvas_id,
        "SLACK_CHANNEL_ID": ALERT_CHANNEL,
        "EPMPULSE_DATABASE_URL": pg_url,
        "EPMPULSE_LEADER_TIMEOUT_SECONDS": str(LEADER_TIMEOUT),
        "EPMPULSE_CANVAS_DEBOUNCE_SECONDS": "0.2",
        "EPMPULSE_API_KEYS": f"ci:{API_KEY}",
        "EPMPULSE_LOG_FORMAT": "text",
    }


class Cluster:
    """Starts instances sharing one database and one sandbox; kills them all at the end."""

    def __init__(self, sandbox: SlackSandbox, pg_url: str, tmp_path: Path) -> None:
        self.sandbox = sandbox
        self.canvas_id = sandbox.create_canvas("# placeholder", title="EPM Status")
        self.pg_url = pg_url
        self.env = cluster_env(sandbox, self.canvas_id, pg_url)
        self._tmp = tmp_path
        self.instances: list[Instance] = []

    def start(self, name: str) -> Instance:
        """Start ``epmpulse run`` and wait until its API answers."""
        port = free_port()
        log = self._tmp / f"{name}.log"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "EPMPULSE_"))},
            **self.env,
            "EPMPULSE_HTTP_PORT": str(port),
            "EPMPULSE_DATA_DIR": str(self._tmp / name),
            "PYTHONPATH": str(ROOT),
        }
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=out, stderr=out
            )
        instance = Instance(name, proc, port, log)
        self.instances.append(instance)
        try:
            wait_until(lambda: instance.health() is not None, f"{name} answers", START_TIMEOUT)
        except AssertionError:
            raise AssertionError(log.read_text()) from None
        return instance

    def leaders(self) -> list[Instance]:
        """The live instances whose /health says they lead."""
        return [i for i in self.instances if i.proc.poll() is None and i.is_leader()]

    def set_from_shell(self, app: str, domain: str, status: str) -> None:
        """``epmpulse set`` in its own process, beside the running instances."""
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "EPMPULSE_"))},
            "EPMPULSE_DATABASE_URL": self.pg_url,
            "EPMPULSE_DATA_DIR": str(self._tmp / "shell"),
            "PYTHONPATH": str(ROOT),
        }
        done = subprocess.run(
            [sys.executable, "-m", "bot", "set", app, domain, status],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr

    def alerts(self) -> list[str]:
        """The fallback texts of every alert posted to the alert channel."""
        return [m.text or "" for m in self.sandbox.messages(ALERT_CHANNEL)]

    def publishes(self) -> list[str]:
        """The markdown of every successful canvases.edit, in order."""
        calls = [c for c in self.sandbox.calls("canvases.edit") if c.ok]
        return [c.args["changes"][0]["document_content"]["markdown"] for c in calls]

    def alerts_recorded(self) -> bool:
        """Whether the alert cursor in the store covers the last change.

        The leader records a post there just after Slack took it; once every change is
        covered, no instance, this leader or a later one, sends any of them again.
        """
        import psycopg

        from bot.slack.delivery import CURSOR_META, Cursor

        with psycopg.connect(self.pg_url) as conn:
            last = conn.execute("SELECT max(version) FROM epmpulse_history").fetchone()
            row = conn.execute(
                "SELECT value FROM epmpulse_meta WHERE name = %s", (CURSOR_META,)
            ).fetchone()
        cursor = Cursor.parse(row[0] if row else None)
        return cursor is not None and last is not None and cursor.version >= last[0]

    def last_publish_recorded(self) -> bool:
        """Whether the store holds the hash of the last canvases.edit.

        The leader records it just after the call returns: a leader killed in between
        leaves its successor to send that content once more (SPEC §10's crash window).
        """
        import psycopg

        from bot.canvas.publisher import PUBLISHED_META
        from bot.canvas.render import digest

        publishes = self.publishes()
        if not publishes:
            return False
        with psycopg.connect(self.pg_url) as conn:
            row = conn.execute(
                "SELECT value->>'hash' FROM epmpulse_meta WHERE name = %s", (PUBLISHED_META,)
            ).fetchone()
        return row is not None and row[0] == digest(publishes[-1])

    def stop(self) -> None:
        """SIGTERM every live instance (SIGKILL if it does not stop in time)."""
        for instance in self.instances:
            if instance.proc.poll() is None:
                instance.proc.send_signal(signal.SIGTERM)
        for instance in self.instances:
            try:
                instance.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                instance.kill()


@pytest.fixture
def cluster(pg_url: str, tmp_path: Path) -> Iterator[Cluster]:
    """A Slack sandbox and a database for several instances, all stopped afterwards."""
    with SlackSandbox() as sandbox:
        sandbox.add_channel(ALERT_CHANNEL, "epm-alerts")
        running = Cluster(sandbox, pg_url, tmp_path)
        try:
            yield running
        finally:
            running.stop()
