"""The live canvas (SPEC §5): rendering, debounced publishing and the canvas lifecycle.

- :mod:`bot.canvas.render` — the board as canvas markdown;
- :mod:`bot.canvas.publisher` — one ``canvases.edit`` per flush, only when it changed;
- :mod:`bot.canvas.lifecycle` — which canvas, checked or created at start-up;
- :mod:`bot.canvas.part` — the runtime part that schedules flushes.

``epmpulse demo`` lives in :mod:`bot.demo`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.canvas.part import CanvasPart
    from bot.canvas.publisher import CanvasPublisher, FlushResult
    from bot.canvas.render import render_board
    from bot.errors import CanvasError

__all__ = ["CanvasError", "CanvasPart", "CanvasPublisher", "FlushResult", "render_board"]

# Loaded on first use: `epmpulse render` needs the renderer, not Slack's client.
_HOMES = {
    "CanvasPart": "bot.canvas.part",
    "CanvasPublisher": "bot.canvas.publisher",
    "FlushResult": "bot.canvas.publisher",
    "render_board": "bot.canvas.render",
    "CanvasError": "bot.errors",
}


def __getattr__(name: str) -> Any:
    """Import the public names lazily (PEP 562)."""
    import importlib

    if name not in _HOMES:
        raise AttributeError(f"module 'bot.canvas' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
