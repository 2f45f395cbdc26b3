"""The live canvas (SPEC §5): rendering, debounced publishing and the canvas lifecycle.

- :mod:`bot.canvas.render` — the board as canvas markdown;
- :mod:`bot.canvas.publisher` — one ``canvases.edit`` per flush, only when it changed;
- :mod:`bot.canvas.lifecycle` — which canvas, checked or created at start-up;
- :mod:`bot.canvas.part` — the runtime part that schedules flushes.

``epmpulse demo`` lives in :mod:`bot.demo`.
"""

from __future__ import annotations

from bot.canvas.part import CanvasPart
from bot.canvas.publisher import CanvasPublisher, FlushResult
from bot.canvas.render import render_board
from bot.errors import CanvasError

__all__ = ["CanvasError", "CanvasPart", "CanvasPublisher", "FlushResult", "render_board"]
