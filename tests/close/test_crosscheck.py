"""The cross-check (SPEC §17): an OK that EPM contradicts is disputed, alerted once, and
cleared by the next change of the domain."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.canvas.render import render_board
from bot.model import JobRef, Status
from bot.sandbox.epm import EpmSandbox
from bot.sandbox.slack import SlackSandbox
from bot.slack.mrkdwn import record_line
from tests.close.conducting import PERSON, START, Conducted, estate_yaml, open_conducted
from tests.close.conftest import CHANNEL, sandbox  # noqa: F401 - fixture
from tests.conftest import FakeNow, MakeConfig


@pytest.fixture
def epm() -> Iterator[EpmSandbox]:
    """An EPM sandbox whose started "Load Actuals" fails at the first poll."""
    with EpmSandbox(username="svc_epm", password="basic-password-9c1d") as running:
        running.script_start("Load Actuals", "error", details="Rule failed on Entity E01")
        yield running


@pytest.fixture
def c(
    make_config: MakeConfig,
    sandbox: SlackSandbox,  # noqa: F811
    epm: EpmSandbox,
) -> Iterator[Conducted]:
    """A conducted process whose cross-check cursor starts now."""
    config = make_config(
        estate_yaml(epm, auto=False),
        SLACK_BOT_TOKEN=sandbox.bot_token,
        SLACK_API_URL=sandbox.api_url,
        SLACK_CHANNEL_ID=CHANNEL,
    )
    conducted = open_conducted(config, FakeNow(START), sandbox, epm)
    conducted.tick()
    yield conducted
    conducted.close()


def disputes(c: Conducted) -> list[str]:
    """The dispute alerts posted to the channel."""
    return [t for t in c.channel() if t.startswith(":warning:")]


def failed_run(c: Conducted) -> None:
    """FCCS/Actuals: its job run by hand ends in Error."""
    c.launcher.run("FCCS", "Actuals", by=PERSON)
    c.poll()
    assert c.service.get("FCCS", "Actuals").status is Status.ERROR


def test_ok_by_a_person_after_a_failed_job_is_disputed_and_alerted_once(c: Conducted) -> None:
    """The record says why; one alert; more runs post nothing more."""
    failed_run(c)
    c.clock.advance(minutes=5)
    c.ok("FCCS", "Actuals")
    c.tick()
    record = c.service.get("FCCS", "Actuals")
    assert record.status is Status.OK
    assert record.disputed is not None
    assert record.disputed.startswith(f"set OK by {PERSON}, but its last EPM job in this close")
    assert "ended in Error at 2026-12-01T09:00:00Z: Rule failed on Entity E01" in record.disputed
    assert record.to_json()["disputed"] == record.disputed
    c.tick()
    [alert] = disputes(c)
    assert "FCCS / Actuals is disputed" in alert


def test_the_next_change_clears_the_dispute(c: Conducted) -> None:
    """A new message on the same OK is a change: the dispute is gone, and not raised again."""
    failed_run(c)
    c.ok("FCCS", "Actuals")
    c.tick()
    assert c.service.get("FCCS", "Actuals").disputed
    c.service.set("FCCS", "Actuals", "Warning", "checked by hand", by=PERSON)
    c.tick()
    record = c.service.get("FCCS", "Actuals")
    assert record.disputed is None and "disputed" not in record.to_json()
    assert len(disputes(c)) == 1


def test_a_tracked_job_ending_in_error_after_a_key_set_ok_is_disputed(
    c: Conducted, epm: EpmSandbox
) -> None:
    """OK with a tracked job over REST, then the job fails: the Error is disputed."""
    epm.add_job("planning", 4242, ("error",), details="Consolidation failed")
    c.service.set(
        "FCCS", "Consolidation", "OK", by="api:ci", jobs=[JobRef(server="planning", job_id="4242")]
    )
    c.poll()
    c.tick()
    record = c.service.get("FCCS", "Consolidation")
    assert record.status is Status.ERROR
    assert record.disputed == (
        "a tracked EPM job ended in Error (Consolidation failed) after api:ci set OK at "
        "2026-12-01T09:00:00Z"
    )
    assert len(disputes(c)) == 1


def test_ok_after_a_job_that_succeeded_is_not_disputed(c: Conducted, epm: EpmSandbox) -> None:
    """The last EPM job ended OK: a person's OK is simply an OK."""
    epm.script_start("Load Actuals", "ok")
    c.launcher.run("FCCS", "Actuals", by=PERSON)
    c.poll()
    c.service.set("FCCS", "Actuals", "Pending", by=PERSON)
    c.ok("FCCS", "Actuals")
    c.tick()
    assert c.service.get("FCCS", "Actuals").disputed is None
    assert disputes(c) == []


def test_a_disputed_record_shows_a_warning_on_the_canvas_and_in_status(c: Conducted) -> None:
    """Canvas: :warning: beside the status; /epmpulse status APP DOMAIN: the reason."""
    failed_run(c)
    c.ok("FCCS", "Actuals")
    c.tick()
    record = c.service.get("FCCS", "Actuals")
    markdown = render_board(c.service.board(), title="EPM Status", timezone="UTC")
    assert "| Actuals | :large_green_circle: OK :warning: disputed |" in markdown
    assert ":warning: disputed: set OK by" in record_line(record)
