"""Public holidays kept on disk, so a one-shot command need not import ``holidays``.

Importing the ``holidays`` package costs more than a whole ``epmpulse status`` (SPEC §19,
bench/cli.py). A close calendar that names a country needs its public holidays of this
year and either side; they are worked out once and kept in ``DATA_DIR/holidays.json``,
keyed on country, subdivision, year and the installed ``holidays`` version (found
without importing it). The file holds public dates only, nothing from the configuration.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from importlib.util import find_spec
from pathlib import Path

from bot.layout import Layout
from bot.store.files import publish, write_temp

logger = logging.getLogger(__name__)

CACHE_FILE = "holidays.json"


def with_cached_holidays(layout: Layout, directory: Path, year: int) -> Layout:
    """``layout`` with its close calendar's public holidays of ``year`` and either side,
    read from ``directory``'s cache, or worked out and kept there."""
    close = layout.close
    version = holidays_version()
    if close is None or close.country is None or version is None:
        return layout
    kept = _read(directory)
    known: dict[int, tuple[date, ...]] = {}
    missing = False
    for wanted in (year - 1, year, year + 1):
        key = f"{close.country}/{close.subdivision or ''}/{wanted}/{version}"
        days = _days(kept.get(key))
        if days is None:
            from bot.close.calendar import public_holidays

            days = tuple(sorted(public_holidays(close.country, close.subdivision, wanted)))
            kept[key] = [day.isoformat() for day in days]
            missing = True
        known[wanted] = days
    if missing:
        _write(directory / CACHE_FILE, kept)
    return layout._replace(close=close._replace(known_holidays=known))


def is_known(directory: Path, country: str, subdivision: str | None) -> bool:
    """Whether the installed ``holidays`` already gave holidays of ``country`` (and
    ``subdivision``) into ``directory``'s cache: then they need no second check."""
    version = holidays_version()
    prefix = f"{country}/{subdivision or ''}/"
    return version is not None and any(
        key.startswith(prefix) and key.endswith(f"/{version}") for key in _read(directory)
    )


def holidays_version() -> str | None:
    """The installed ``holidays`` release, read from its distribution's directory name."""
    spec = find_spec("holidays")
    if spec is None or not spec.submodule_search_locations:
        return None
    site = Path(next(iter(spec.submodule_search_locations))).parent
    found = sorted(site.glob("holidays-*.dist-info"))
    return found[-1].name.removeprefix("holidays-").removesuffix(".dist-info") if found else None


def _read(directory: Path) -> dict[str, list[str]]:
    """The kept tables ({} when there are none, or the file is not ours to read)."""
    try:
        kept = json.loads((directory / CACHE_FILE).read_bytes())
    except (OSError, ValueError):
        return {}
    return kept if isinstance(kept, dict) else {}


def _days(kept: object) -> tuple[date, ...] | None:
    """One kept year's holidays; None when there are none or they do not parse (worked
    out again then: a damaged file costs an import of ``holidays``, never a command)."""
    if not isinstance(kept, list):
        return None
    try:
        return tuple(date.fromisoformat(day) for day in kept)
    except (TypeError, ValueError):
        return None


def _write(path: Path, kept: dict[str, list[str]]) -> None:
    """Replace the cache file whole (0600, as every data file); quietly not when the
    directory is not there."""
    if not path.parent.is_dir():
        return
    try:
        temporary, _ = write_temp(path, json.dumps(kept, sort_keys=True).encode())
    except OSError as exc:
        logger.debug("cannot keep the public holidays in %s: %s", path, exc)
        return
    try:
        publish(temporary, path)  # readers see the old file or the new one
    except OSError as exc:
        logger.debug("cannot keep the public holidays in %s: %s", path, exc)
        temporary.unlink(missing_ok=True)
