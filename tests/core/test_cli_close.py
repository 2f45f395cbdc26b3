"""``epmpulse close``, ``epmpulse report`` and overdue marks: the CLI beside Slack (SPEC §19)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.close.archive import archive_key
from bot.store import WorkingState
from bot.store.json_store import JsonStore
from tests.report.archives import october

# A deadline that has always passed (WD1 00:00, no weekend) and a domain waiting on it.
CLOSE_YAML = """\
apps:
  Planning: {domains: [Actuals, Forecast]}
close:
  weekend: []
  deadlines: {Planning/Actuals: "WD1 00:00"}
  depends_on: {Planning/Forecast: [Planning/Actuals]}
"""


@pytest.fixture(autouse=True)
def _closing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A close calendar in EPMPULSE_CONFIG and a temp data directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "epmpulse.yml").write_text(CLOSE_YAML, encoding="utf-8")
    monkeypatch.setenv("EPMPULSE_CONFIG", str(tmp_path / "epmpulse.yml"))
    monkeypatch.setenv("EPMPULSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EPMPULSE_LOG_FORMAT", "text")
    return tmp_path / "data"


def archive(data_dir: Path, value: dict[str, object]) -> None:
    """Store ``value`` as its period's close archive, as the roll-over does."""
    store = JsonStore(data_dir)

    def put(work: WorkingState) -> None:
        work.put_meta(archive_key(str(value["period"])), value)

    try:
        store.commit(put)
    finally:
        store.close()


def test_status_marks_overdue_rows(capsys: pytest.CaptureFixture[str]) -> None:
    """The whole board and one app mark the overdue domain, and only it."""
    for argv in (["status"], ["status", "Planning"]):
        assert main(argv) == 0
        lines = capsys.readouterr().out.splitlines()
        actuals = next(line for line in lines if "Actuals" in line)
        forecast = next(line for line in lines if "Forecast" in line)
        assert actuals.endswith("OVERDUE"), argv
        assert "OVERDUE" not in forecast, argv


def test_an_ok_domain_is_not_marked_overdue(capsys: pytest.CaptureFixture[str]) -> None:
    """Past its deadline but OK: no mark."""
    assert main(["set", "Planning", "Actuals", "OK"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    assert "OVERDUE" not in capsys.readouterr().out


def test_close_prints_the_summary_with_overdue_and_waiting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As /epmpulse close: n of m OK, the overdue domain with its deadline, the waiting one."""
    assert main(["close"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Close of ") and lines[0].endswith(" - 0 of 2 OK")
    assert lines[1] == "Overdue (1):"
    assert lines[2].startswith("  Pending  Planning/Actuals - due WD1 00:00 (")
    assert lines[3:] == ["Waiting (1):", "  Pending  Planning/Forecast - waits on Planning/Actuals"]


def test_close_of_an_archived_period_lists_its_late_domains(
    _closing: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``close 2026-10`` shows the archive: n of m OK, each late domain and when it was OK."""
    archive(_closing, october())
    assert main(["close", "2026-10"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Close of 2026-10 (archived) - 4 of 6 OK"
    assert lines[1] == "Late (2):"
    assert lines[2].startswith("  OK Planning/Forecast - OK at Wed 2026-11-04 09:30")
    assert lines[3].startswith("  Error FCCS/Consolidation - never OK, due Thu 2026-11-05 17:00")


def test_close_of_a_period_never_archived_names_the_archived_ones(
    _closing: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2, naming what is archived and the close running now."""
    archive(_closing, october())
    assert main(["close", "2026-07"]) == 2
    err = capsys.readouterr().err
    assert "The close of 2026-07 has no archive. Archived: 2026-10;" in err
    assert main(["close", "July"]) == 2


def test_report_writes_the_chart_and_prints_its_summary(
    _closing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``report 2026-10 --out FILE.png``: a PNG on disk, the Slack text on stdout."""
    archive(_closing, october())
    out = tmp_path / "october.png"
    assert main(["report", "2026-10", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Close 2026-10: 4 of 6 OK, 1 late, 2 never OK; median time to OK 2d 0h."
    assert "• Planning / Forecast: 3d 9h — 16h 30m late" in lines
    assert lines[-1] == f"chart ({out.stat().st_size} bytes) written to {out}"


def test_report_refuses_a_period_without_archive_and_a_name_without_png(
    _closing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 and nothing written: no archive yet, or an output that is not a .png."""
    assert main(["report", "--out", str(tmp_path / "a.png")]) == 2
    assert "No close has been archived yet" in capsys.readouterr().err
    archive(_closing, october())
    assert main(["report", "--out", str(tmp_path / "a.jpg")]) == 2
    assert "name a .png file" in capsys.readouterr().err
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "a.jpg").exists()
