"""The Slack sandbox spreads Socket Mode envelopes across open connections, as Slack does."""

from __future__ import annotations

import json
import threading

from slack_sdk import WebClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from bot.sandbox.slack import SlackSandbox
from tests.conftest import wait_until


def _acking(websocket: ClientConnection, seen: list[str]) -> threading.Thread:
    """A thread that acks every envelope on ``websocket`` and records its type."""

    def run() -> None:
        try:
            for raw in websocket:
                message = json.loads(raw)
                if "envelope_id" in message:
                    seen.append(message["type"])
                    websocket.send(json.dumps({"envelope_id": message["envelope_id"]}))
        except ConnectionClosed:
            return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_envelopes_are_spread_across_every_open_connection(sandbox: SlackSandbox) -> None:
    """Four slash commands over two connections reach each connection twice."""
    app_client = WebClient(token=sandbox.app_token, base_url=sandbox.api_url)
    urls = [app_client.apps_connections_open(app_token=sandbox.app_token)["url"] for _ in (1, 2)]
    seen: list[list[str]] = [[], []]
    with connect(urls[0], open_timeout=5) as first, connect(urls[1], open_timeout=5) as second:
        threads = [_acking(first, seen[0]), _acking(second, seen[1])]
        wait_until(lambda: sandbox.connection_count == 2, "both connections open")
        for _ in range(4):
            sandbox.send_command("status", timeout=5)
    for thread in threads:
        thread.join(timeout=5)
    assert seen == [["slash_commands"] * 2, ["slash_commands"] * 2]
