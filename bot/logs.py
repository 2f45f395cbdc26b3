"""Logging set-up: JSON lines by default, plain text on request, secrets masked."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

# Slack tokens have a recognisable shape; mask them wherever they appear.
_TOKEN = re.compile(r"\bx(?:ox[abposr]|app)-[A-Za-z0-9-]+")
_MASK = "***"


class SecretFilter(logging.Filter):
    """Replaces Slack tokens and known secret values in log messages with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once and mask secrets in it (and in the traceback)."""
        message = self.mask(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        return True

    def mask(self, text: str) -> str:
        """Return ``text`` with every secret masked."""
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return _TOKEN.sub(_MASK, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` as a JSON line."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "json", secrets: Iterable[str] = ()) -> None:
    """Send logs to stderr in ``fmt`` ('json' or 'text') at ``level``, masking secrets."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler logs every run of every job at INFO (several a second: alert delivery,
    # canvas ticks), which drowns the one summary line per unit of work; DEBUG shows it.
    quiet = str(level).upper() != "DEBUG"
    logging.getLogger("apscheduler").setLevel(logging.WARNING if quiet else logging.NOTSET)
