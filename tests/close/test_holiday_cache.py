"""Public holidays kept on disk: keyed on country, subdivision, year and `holidays` release."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from bot.close.holiday_cache import CACHE_FILE, holidays_version, is_known, with_cached_holidays
from bot.close.rules import CloseRules
from bot.layout import AppLayout, Layout


def gb_layout() -> Layout:
    """A board whose close counts English public holidays."""
    close = CloseRules(country="GB", subdivision="ENG")
    return Layout(apps={"Planning": AppLayout(("Actuals",))}, close=close)


def test_the_holidays_of_the_year_and_either_side_are_worked_out_and_kept(tmp_path: Path) -> None:
    """The first call asks `holidays` and keeps three years, one key per year and release."""
    layout = with_cached_holidays(gb_layout(), tmp_path, 2026)
    assert layout.close is not None
    assert sorted(layout.close.known_holidays) == [2025, 2026, 2027]
    assert date(2026, 12, 25) in layout.close.known_holidays[2026]
    kept = json.loads((tmp_path / CACHE_FILE).read_text(encoding="utf-8"))
    version = holidays_version()
    assert sorted(kept) == [f"GB/ENG/{year}/{version}" for year in (2025, 2026, 2027)]
    assert is_known(tmp_path, "GB", "ENG") and not is_known(tmp_path, "GB", None)


def test_kept_holidays_are_read_back_and_another_release_is_not_trusted(tmp_path: Path) -> None:
    """A kept table is used as it is; one kept by another `holidays` release is ignored."""
    version = holidays_version()
    kept = {f"GB/ENG/{year}/{version}": [f"{year}-03-03"] for year in (2025, 2026, 2027)}
    kept["DE//2026/0.0-old"] = ["2026-01-01"]
    (tmp_path / CACHE_FILE).write_text(json.dumps(kept), encoding="utf-8")
    layout = with_cached_holidays(gb_layout(), tmp_path, 2026)
    assert layout.close is not None
    assert layout.close.known_holidays[2026] == (date(2026, 3, 3),)
    assert not is_known(tmp_path, "DE", None)


def test_without_a_data_directory_nothing_is_written(tmp_path: Path) -> None:
    """The holidays are still worked out; the missing directory is not created."""
    missing = tmp_path / "absent"
    layout = with_cached_holidays(gb_layout(), missing, 2026)
    assert layout.close is not None and layout.close.known_holidays[2026]
    assert not missing.exists()


def test_the_kept_file_is_private_as_every_data_file(tmp_path: Path) -> None:
    """Created 0600 whatever the umask (SPEC §8)."""
    with_cached_holidays(gb_layout(), tmp_path, 2026)
    assert (tmp_path / CACHE_FILE).stat().st_mode & 0o777 == 0o600


def test_a_damaged_year_is_worked_out_again_instead_of_failing(tmp_path: Path) -> None:
    """A date that does not parse costs an import of `holidays`, never the command."""
    version = holidays_version()
    kept = {f"GB/ENG/{year}/{version}": [f"{year}-03-03"] for year in (2025, 2027)}
    kept[f"GB/ENG/2026/{version}"] = ["2026-13-01"]
    (tmp_path / CACHE_FILE).write_text(json.dumps(kept), encoding="utf-8")
    layout = with_cached_holidays(gb_layout(), tmp_path, 2026)
    assert layout.close is not None
    assert date(2026, 12, 25) in layout.close.known_holidays[2026]
    assert layout.close.known_holidays[2025] == (date(2025, 3, 3),)
    rewritten = json.loads((tmp_path / CACHE_FILE).read_text(encoding="utf-8"))
    assert "2026-12-25" in rewritten[f"GB/ENG/2026/{version}"]
