"""Building the Bolt app: no misleading warnings on start."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from slack_sdk import WebClient

from bot.config import Config
from bot.service import StatusService
from bot.slack.app import build_app
from bot.slack.deps import SlackDeps
from bot.slack.part import SlackPart


def test_building_the_app_does_not_warn_that_the_token_is_unused(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    config: Config,
    service: StatusService,
) -> None:
    """With SLACK_BOT_TOKEN set (as for ``run``) Bolt's 'token will be unused' is not logged."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    part = SlackPart(config, service)
    deps: SlackDeps = part.deps
    client = WebClient(token="xoxb-from-the-environment", base_url="http://127.0.0.1:9/api/")
    bolt_logger = logging.getLogger("bot.slack.bolt")
    try:
        with caplog.at_level(logging.DEBUG), ThreadPoolExecutor(1) as executor:
            app = build_app(client, deps, executor)
            bolt_logger.warning("a later warning still shows")
    finally:
        part.stop()
    assert app.client is client
    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if "will be unused" in m], messages
    assert "a later warning still shows" in messages
    assert bolt_logger.filters == []
