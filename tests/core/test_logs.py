"""Logging: JSON lines with tracebacks, secrets masked."""

from __future__ import annotations

import json
import logging

import pytest

from bot.logs import JsonFormatter, SecretFilter, setup_logging


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("token xoxb-123-456-abc leaked in an error")
        except RuntimeError:
            import sys

            exc_info = sys.exc_info()
    return logging.LogRecord("bot.test", logging.ERROR, __file__, 1, message, args, exc_info)


def test_json_lines_carry_level_logger_message_and_exception() -> None:
    """Each record is one JSON object with its traceback."""
    record = _record("flush of %d changes failed", 3, exc=True)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "bot.test"
    assert entry["message"] == "flush of 3 changes failed"
    assert "RuntimeError" in entry["exception"]


def test_secrets_and_slack_tokens_are_masked_everywhere() -> None:
    """Configured secrets and Slack token shapes never reach the output."""
    secret_filter = SecretFilter(["hunter2-api-key"])
    record = _record("key %s and app token %s", "hunter2-api-key", "xapp-1-A0-xyz", exc=True)
    secret_filter.filter(record)
    text = JsonFormatter().format(record)
    assert "hunter2-api-key" not in text
    assert "xapp-1-A0-xyz" not in text
    assert "xoxb-123-456-abc" not in text
    assert text.count("***") >= 3


def test_setup_logging_installs_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    """setup_logging replaces handlers and honours level and format."""
    setup_logging("WARNING", "text", secrets=["s3cr3t-value"])
    setup_logging("WARNING", "text", secrets=["s3cr3t-value"])
    logging.getLogger("bot.x").info("hidden")
    logging.getLogger("bot.x").warning("shown %s", "s3cr3t-value")
    err = capsys.readouterr().err
    assert "hidden" not in err
    assert err.count("shown ***") == 1
    logging.getLogger().handlers.clear()


def test_scheduler_job_runs_are_logged_only_at_debug(capsys: pytest.CaptureFixture[str]) -> None:
    """At INFO APScheduler's per-run lines are dropped, its warnings kept; DEBUG shows all."""
    try:
        setup_logging("INFO", "text")
        scheduler_log = logging.getLogger("apscheduler.executors.default")
        scheduler_log.info('Running job "tick" (scheduled at …)')
        scheduler_log.warning("Run time of job was missed")
        logging.getLogger("bot.x").info("one summary line")
        err = capsys.readouterr().err
        assert "Running job" not in err
        assert "was missed" in err and "one summary line" in err
        setup_logging("DEBUG", "text")
        scheduler_log.info('Running job "tick" (scheduled at …)')
        assert "Running job" in capsys.readouterr().err
    finally:
        logging.getLogger().handlers.clear()
        logging.getLogger("apscheduler").setLevel(logging.NOTSET)
