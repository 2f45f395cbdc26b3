"""The REST API for automation (SPEC §7): FastAPI app, served by uvicorn in a thread."""

from __future__ import annotations

from bot.api.app import create_api, create_api_for
from bot.api.server import ApiPart

__all__ = ["ApiPart", "create_api", "create_api_for"]
