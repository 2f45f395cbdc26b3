"""``python -m bot`` is the ``epmpulse`` CLI."""

from __future__ import annotations

import sys

from bot.cli import console

if __name__ == "__main__":
    sys.exit(console())
