"""``/epmpulse close [PERIOD]``, close fields in ``/epmpulse status``, and App Home."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.close.archive import archive_key
from tests.close.conftest import CLOSE_YAML
from tests.slack.conftest import ALICE, MakeRunning, Running, body_text

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # WD3 of December (GMT)
ARCHIVE = {
    "period": "2026-10",
    "domains": [
        {
            "app": "Planning",
            "domain": "Actuals",
            "status": "OK",
            "due_at": "2026-11-03T12:00:00Z",
            "ok_at": "2026-11-03T14:00:00Z",
            "late": True,
        },
        {
            "app": "ARCS",
            "domain": "Reconciliation",
            "status": "OK",
            "due_at": None,
            "ok_at": "2026-11-04T10:00:00Z",
            "late": False,
        },
    ],
}


def close_running(make_running: MakeRunning) -> Running:
    """The Slack part over the close estate, its service's clock fixed at NOW."""
    return make_running(CLOSE_YAML.format(reset="true"), service_clock=lambda: NOW)


def test_close_summarises_the_running_close(make_running: MakeRunning) -> None:
    """Period, working day, n of m OK, overdue with its deadline, waiting, next deadlines."""
    running = close_running(make_running)
    running.service.set("ARCS", "Reconciliation", "OK", by="system")
    text = running.reply("close")
    assert "*Close of 2026-11* · working day 3 (Europe/London) · *1 of 6 OK*" in text
    assert ":rotating_light: *Overdue (1)*" in text
    assert "*Planning/Actuals* — due WD2 12:00" in text
    assert ":hourglass: *Waiting (2)*" in text
    assert "*FCCS/Consolidation* — waits on FCCS/Actuals" in text
    assert "*Next deadlines*" in text and "*FCCS/Consolidation* — WD4 17:00" in text


def test_close_with_an_archived_period_shows_the_late_domains(make_running: MakeRunning) -> None:
    """``close 2026-10`` answers from the archive: n of m OK and each late domain."""
    running = close_running(make_running)
    running.service.set_meta(archive_key("2026-10"), ARCHIVE)
    text = running.reply("close 2026-10")
    assert "*Close of 2026-10* (archived) · *2 of 2 OK*" in text
    assert ":rotating_light: *Late (1)*" in text and "*Planning/Actuals* — OK at" in text
    assert "ARCS/Reconciliation" not in text


def test_close_with_an_unknown_or_malformed_period_says_what_exists(
    make_running: MakeRunning,
) -> None:
    """A period never archived lists the archived ones; a malformed one shows the form."""
    running = close_running(make_running)
    running.service.set_meta(archive_key("2026-10"), ARCHIVE)
    unknown = running.reply("close 2026-08")
    assert "The close of 2026-08 has no archive. Archived: 2026-10" in unknown
    malformed = running.reply("close October")
    assert "use YYYY-MM" in malformed and "/epmpulse close [PERIOD]" in malformed


def test_status_of_a_domain_shows_its_deadline_and_waits(make_running: MakeRunning) -> None:
    """``status APP DOMAIN`` adds the deadline (overdue) and what it waits on."""
    running = close_running(make_running)
    actuals = running.reply("status planning actuals")
    assert "Due WD2 12:00" in actuals and ":rotating_light: *overdue*" in actuals
    consolidation = running.reply("status fccs consolidation")
    assert ":hourglass: Waiting on FCCS/Actuals" in consolidation
    assert "overdue" not in consolidation


def test_a_set_on_a_waiting_domain_succeeds_and_names_the_wait(make_running: MakeRunning) -> None:
    """Setting a domain that still waits is applied; the reply says what it waits on."""
    running = close_running(make_running)
    text = running.reply("status fccs actuals loading")
    assert "is now *Loading*" in text
    assert ":hourglass: Waiting on Planning/Actuals" in text
    assert running.service.get("FCCS", "Actuals").status.value == "Loading"


def test_app_home_shows_the_close_summary_above_the_board(make_running: MakeRunning) -> None:
    """The Home tab has the summary before the first app's heading."""
    running = close_running(make_running)
    running.sandbox.app_home_opened(ALICE)
    home = running.sandbox.wait_for_home_view(ALICE)
    text = body_text(home)
    assert "*Close of 2026-11*" in text
    assert text.index("*Close of 2026-11*") < text.index("Reconciliation")  # board row


def test_help_lists_the_close_command(make_running: MakeRunning) -> None:
    """Usage names ``close [PERIOD]``."""
    running = close_running(make_running)
    assert "`/epmpulse close [PERIOD]`" in running.reply("help")


def test_a_big_close_summary_names_ten_and_counts_the_rest(make_running: MakeRunning) -> None:
    """Many waiting domains: ten are named, the rest counted, so the reply stays short."""
    apps = "apps:\n  Big: {domains: [" + ", ".join(f"D{n:02d}" for n in range(30)) + "]}\n"
    chain = "".join(f"    Big/D{n:02d}: [Big/D{n - 1:02d}]\n" for n in range(1, 30))
    running = make_running(apps + "close:\n  depends_on:\n" + chain, service_clock=lambda: NOW)
    text = running.reply("close")
    assert ":hourglass: *Waiting (29)*" in text
    assert "*Big/D10* — waits on Big/D09" in text and "Big/D11*" not in text
    assert "… and 19 more" in text
