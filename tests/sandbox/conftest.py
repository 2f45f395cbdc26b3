"""Fixtures of the sandbox tests: a fresh Slack sandbox and the bot's client on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.sandbox.slack import SlackSandbox


@pytest.fixture
def sandbox() -> Iterator[SlackSandbox]:
    """A fresh Slack sandbox on loopback, stopped after the test."""
    with SlackSandbox() as running:
        yield running


@pytest.fixture
def client(sandbox: SlackSandbox) -> WebClient:
    """A real WebClient with the bot token, without retries, pointed at the sandbox."""
    return WebClient(token=sandbox.bot_token, base_url=sandbox.api_url, timeout=5)
