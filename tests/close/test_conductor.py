"""The close conductor (SPEC §17) on a virtual clock: delay, hold, release, once per close,
no restart after a failure, a chain three deep, and a restart during the delay."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from bot.canvas.render import render_board
from bot.close import holds
from bot.close.conductor import CONDUCTOR_META, HOLDS_META, RESERVATION_SECONDS, Stage
from bot.epm import launch
from bot.errors import ConfigError, ValidationError
from bot.model import Status, format_time
from bot.sandbox.epm import EpmSandbox
from bot.sandbox.slack import SlackSandbox
from bot.service import JOB_STARTS_META
from bot.slack.holds import HOLD_ACTION
from tests.close.conducting import (
    PERSON,
    START,
    Conducted,
    estate_yaml,
    open_conducted,
)
from tests.close.conftest import CHANNEL, sandbox  # noqa: F401 - fixture
from tests.conftest import FakeNow, MakeConfig

MakeConducted = Callable[..., Conducted]


@pytest.fixture
def epm() -> Iterator[EpmSandbox]:
    """An EPM sandbox whose started jobs succeed at the first poll."""
    with EpmSandbox(username="svc_epm", password="basic-password-9c1d") as running:
        for job in ("Aggregate Actuals", "Load Actuals", "Consolidate", "Run Reports"):
            running.script_start(job, "ok")
        yield running


@pytest.fixture
def make(
    make_config: MakeConfig,
    sandbox: SlackSandbox,  # noqa: F811
    epm: EpmSandbox,
) -> Iterator[MakeConducted]:
    """Build a conducted process (``delay`` minutes) at 09:00 on 1 December 2026."""
    opened: list[Conducted] = []

    def build(*, delay: int | None = 2) -> Conducted:
        config = make_config(
            estate_yaml(epm, delay=delay),
            SLACK_BOT_TOKEN=sandbox.bot_token,
            SLACK_API_URL=sandbox.api_url,
            SLACK_CHANNEL_ID=CHANNEL,
        )
        conducted = open_conducted(config, FakeNow(START), sandbox, epm)
        opened.append(conducted)
        return conducted

    yield build
    for conducted in opened:
        conducted.close()


def stage(c: Conducted, name: str) -> Stage:
    """Where one domain's automatic start stands now."""
    return next(p.stage for p in c.conductor.current()[1] if p.name == name)


# --- configuration -----------------------------------------------------------------


def test_auto_start_on_a_domain_that_waits_on_nothing_is_a_config_error(
    make_config: MakeConfig, epm: EpmSandbox
) -> None:
    """Nothing would ever start it: the problem names the domain and close.depends_on."""
    text = estate_yaml(epm).replace("FCCS/Reporting: [FCCS/Consolidation]", "")
    text = text.replace("    FCCS/Reporting:\n    - FCCS/Consolidation\n", "")
    with pytest.raises(ConfigError) as caught:
        make_config(text)
    assert any(
        "apps.FCCS.jobs.Reporting.auto_start" in p and "close.depends_on" in p
        for p in caught.value.problems
    )


def test_a_negative_start_delay_is_a_config_error(make_config: MakeConfig, epm: EpmSandbox) -> None:
    """start_delay_minutes must be 0 or more."""
    with pytest.raises(ConfigError) as caught:
        make_config(estate_yaml(epm, delay=-1))
    assert any("start_delay_minutes" in p for p in caught.value.problems)


# --- the rules -----------------------------------------------------------------------


def test_the_start_is_announced_with_a_hold_button_and_waits_for_the_delay(
    make: MakeConducted,
) -> None:
    """Upstream OK: one announcement at once, no POST until two minutes after that commit."""
    c = make()
    c.ok("Planning", "Actuals")
    c.tick()
    assert c.started() == []
    [text] = c.channel()
    assert "Starting *Load Actuals* for *FCCS / Actuals* in 2 min" in text
    [message] = c.slack.messages(CHANNEL)
    buttons = [e for b in message.blocks if b.get("type") == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [(HOLD_ACTION, "FCCS/Actuals")]
    c.clock.advance(minutes=1, seconds=59)
    c.tick()
    assert c.started() == []
    assert c.conductor.wake_at(c.clock.now) == START + timedelta(minutes=2)
    c.clock.advance(seconds=1)
    c.tick()
    assert c.started() == ["Load Actuals"]
    record = c.service.get("FCCS", "Actuals")
    assert record.status is Status.LOADING and record.updated_by == "system"
    assert record.message.startswith("Started Load Actuals (job ")
    assert len(c.channel()) == 1  # announced once


def test_the_delay_counts_from_the_commit_not_from_when_the_conductor_noticed(
    make: MakeConducted,
) -> None:
    """Noticed 90 s late: the announcement says 1 min, and the start comes at commit + 2 min."""
    c = make()
    c.ok("Planning", "Actuals")
    c.clock.advance(seconds=90)
    c.tick()
    assert "in 1 min" in c.channel()[0]
    c.clock.advance(seconds=30)
    c.tick()
    assert c.started() == ["Load Actuals"]


def test_a_delay_of_zero_starts_at_once(make: MakeConducted) -> None:
    """start_delay_minutes: 0 — announced as starting now, and started in the same run."""
    c = make(delay=0)
    c.ok("Planning", "Actuals")
    c.tick()
    assert c.started() == ["Load Actuals"]
    assert "Starting *Load Actuals* for *FCCS / Actuals* now" in c.channel()[0]


def test_a_held_start_does_not_happen_and_release_starts_it_at_once(make: MakeConducted) -> None:
    """Held during the delay: nothing at the due time; released later: started then."""
    c = make()
    c.ok("Planning", "Actuals")
    c.tick()
    result = holds.hold(c.service, c.config.estate, "fccs", "actuals", by=PERSON)
    assert (result.app, result.domain, result.held, result.changed) == (
        "FCCS",
        "Actuals",
        True,
        True,
    )
    c.clock.advance(minutes=10)
    c.tick()
    assert c.started() == []
    assert stage(c, "FCCS/Actuals") is Stage.HELD
    assert c.conductor.wake_at(c.clock.now) is None  # nothing to wake for while held
    holds.release(c.service, c.config.estate, "FCCS", "Actuals", by=PERSON)
    c.tick()
    assert c.started() == ["Load Actuals"]
    assert len(c.channel()) == 1  # no second announcement


def test_a_hold_set_before_the_upstream_is_ok_still_holds(make: MakeConducted) -> None:
    """Hold tonight's job in advance: announced when due, never started while held."""
    c = make()
    holds.hold(c.service, c.config.estate, "FCCS", "Actuals", by=PERSON)
    c.ok("Planning", "Actuals")
    c.clock.advance(minutes=5)
    c.tick()
    assert c.started() == []
    assert len(c.channel()) == 1
    assert c.service.meta(HOLDS_META)["held"]["FCCS/Actuals"]["by"] == PERSON


def test_holding_a_domain_that_does_not_start_by_itself_names_those_that_do(
    make: MakeConducted,
) -> None:
    """A clear error naming the auto-started domains; nothing is stored."""
    c = make()
    with pytest.raises(ValidationError) as caught:
        holds.hold(c.service, c.config.estate, "Planning", "Actuals", by=PERSON)
    assert "FCCS/Actuals, FCCS/Consolidation, FCCS/Reporting" in str(caught.value)
    assert c.service.meta(HOLDS_META) is None


def test_a_failed_job_is_reported_once_and_never_restarted_in_this_close(
    make: MakeConducted, epm: EpmSandbox
) -> None:
    """Error: one notice naming /epmpulse run; upstream OK again starts nothing."""
    epm.script_start("Load Actuals", "error", details="Rule failed")
    c = make(delay=0)
    c.ok("Planning", "Actuals")
    c.tick()
    c.poll()
    assert c.service.get("FCCS", "Actuals").status is Status.ERROR
    c.tick()
    c.tick()
    notices = [t for t in c.channel() if "not restarted automatically" in t]
    assert len(notices) == 1
    assert "`/epmpulse run FCCS Actuals`" in notices[0] and "Rule failed" in notices[0]
    c.service.set("Planning", "Actuals", "Loading", by=PERSON)
    c.ok("Planning", "Actuals")
    c.service.set("FCCS", "Actuals", "Pending", by=PERSON)
    c.tick()
    assert c.started() == ["Load Actuals"]
    assert stage(c, "FCCS/Actuals") is Stage.DONE


def test_a_refused_start_is_reported_and_not_retried(make: MakeConducted, epm: EpmSandbox) -> None:
    """EPM refuses: EPM's message and /epmpulse run in one notice; no second POST."""
    epm.refuse_start("Load Actuals", 400, "Rule Load Actuals is not valid")
    c = make(delay=0)
    c.ok("Planning", "Actuals")
    c.tick()
    c.tick()
    assert c.started() == ["Load Actuals"]  # the one POST, refused
    notices = [t for t in c.channel() if "could not be started" in t]
    assert len(notices) == 1 and "Rule Load Actuals is not valid" in notices[0]
    assert c.service.get("FCCS", "Actuals").status is Status.PENDING


def test_a_job_someone_started_by_hand_during_the_delay_is_not_started_again(
    make: MakeConducted,
) -> None:
    """/epmpulse run during the delay: the conductor sees it running and sends nothing."""
    c = make()
    c.ok("Planning", "Actuals")
    c.tick()
    c.launcher.run("FCCS", "Actuals", by=PERSON)
    c.clock.advance(minutes=3)
    c.tick()
    assert c.started() == ["Load Actuals"]
    c.poll()
    c.tick()
    assert c.started() == ["Load Actuals"]


def test_a_job_run_by_hand_that_failed_is_not_restarted_by_itself(
    make: MakeConducted, epm: EpmSandbox
) -> None:
    """/epmpulse run, then Error: the conductor leaves it to people."""
    epm.script_start("Load Actuals", "error")
    c = make(delay=0)
    c.launcher.run("FCCS", "Actuals", by=PERSON)
    c.poll()
    assert c.service.get("FCCS", "Actuals").status is Status.ERROR
    c.ok("Planning", "Actuals")
    c.tick()
    assert c.started() == ["Load Actuals"]  # the person's start only
    assert stage(c, "FCCS/Actuals") is Stage.FAILED
    assert c.channel() == []


def test_a_chain_three_deep_starts_each_job_after_the_one_before_is_ok(
    make: MakeConducted,
) -> None:
    """Actuals -> Consolidation -> Reporting, each two minutes after its upstream's OK."""
    c = make()
    c.ok("Planning", "Actuals")
    for job in ("Load Actuals", "Consolidate", "Run Reports"):
        c.tick()  # announces
        c.clock.advance(minutes=2)
        c.tick()  # starts
        assert c.started()[-1] == job
        c.clock.advance(seconds=30)
        c.poll()  # the job succeeds: the next one is due two minutes after this commit
    assert c.started() == ["Load Actuals", "Consolidate", "Run Reports"]
    assert all(r.status is Status.OK for r in c.service.app_board("FCCS"))
    assert len([t for t in c.channel() if t.startswith(":hourglass")]) == 3


def test_a_restart_during_the_delay_resumes_with_the_time_left(make: MakeConducted) -> None:
    """Announced, then restarted: no second announcement, and the start at the same time."""
    c = make()
    c.ok("Planning", "Actuals")
    c.tick()
    c.clock.advance(minutes=1)
    again = c.restart()
    again.conductor.start()  # a started conductor runs at once
    assert again.started() == []
    assert again.conductor.next_wake == START + timedelta(minutes=2)
    again.clock.advance(minutes=1)
    again.tick()
    again.tick()
    assert again.started() == ["Load Actuals"]
    assert len(again.channel()) == 1


def test_a_start_claimed_by_a_leader_that_died_is_never_sent_again(make: MakeConducted) -> None:
    """A claim without an outcome and no tracked job: reported as in doubt, no POST."""
    c = make(delay=0)
    c.service.set_meta(
        CONDUCTOR_META,
        {
            "period": "2026-11",
            "started": {"FCCS/Actuals": {"state": "claimed", "epoch": 99}},
            "posts": {"announce:FCCS/Actuals": "sent"},
        },
    )
    c.ok("Planning", "Actuals")
    c.tick()
    c.tick()
    assert c.started() == []
    notices = [t for t in c.channel() if "may or may not have started" in t]
    assert len(notices) == 1 and "`/epmpulse run FCCS Actuals`" in notices[0]


def test_an_ok_from_an_earlier_close_does_not_start_anything(make: MakeConducted) -> None:
    """Upstream OK since November (no reset): it is not this close's data."""
    c = make()
    c.clock.now = START - timedelta(days=3)
    c.ok("Planning", "Actuals")
    c.clock.now = START
    c.tick()
    assert c.started() == [] and c.channel() == []
    assert stage(c, "FCCS/Actuals") is Stage.WAITING


def test_the_canvas_shows_a_held_domain_as_held(make: MakeConducted) -> None:
    """The held row says so in its Status cell; release removes it."""
    c = make()
    holds.hold(c.service, c.config.estate, "FCCS", "Consolidation", by=PERSON)
    close = c.service.close.canvas()
    markdown = render_board(c.service.board(), title="EPM Status", timezone="UTC", close=close)
    assert ":white_circle: Pending · :raised_hand: start held · waiting on FCCS/Actuals" in markdown
    assert markdown.count("start held") == 1
    holds.release(c.service, c.config.estate, "FCCS", "Consolidation", by=PERSON)
    close = c.service.close.canvas()
    markdown = render_board(c.service.board(), title="EPM Status", timezone="UTC", close=close)
    assert "start held" not in markdown


def test_a_reservation_left_by_a_start_that_died_stops_blocking_once_expired(
    make: MakeConducted,
) -> None:
    """A crashed /epmpulse run left jobs.starting behind: after 10 minutes the job starts."""
    c = make(delay=0)
    c.service.set_meta(JOB_STARTS_META, {"FCCS/Actuals": {"by": PERSON, "at": format_time(START)}})
    c.ok("Planning", "Actuals")
    c.tick()
    assert c.started() == [] and stage(c, "FCCS/Actuals") is Stage.RUNNING
    c.clock.advance(minutes=10, seconds=1)
    c.tick()
    assert c.started() == ["Load Actuals"]


def test_the_reservation_timeout_matches_the_launchers() -> None:
    """The conductor reads reservations as the launcher expires them."""
    assert RESERVATION_SECONDS == launch.RESERVATION_SECONDS


def test_an_announcement_slack_refuses_for_good_does_not_block_the_start(
    make: MakeConducted,
) -> None:
    """channel_not_found: logged and dropped; the job still starts at its time."""
    c = make()
    c.slack.inject("chat.postMessage", None, error="channel_not_found", times=1)
    c.ok("Planning", "Actuals")
    c.tick()
    assert c.service.meta(CONDUCTOR_META)["posts"]["announce:FCCS/Actuals"] == "dropped"
    c.clock.advance(minutes=2)
    c.tick()
    assert c.started() == ["Load Actuals"]


def test_a_start_waits_until_its_announcement_is_posted(make: MakeConducted) -> None:
    """Slack fails for now: no start without the chance to hold it; health says why."""
    c = make()
    c.slack.inject("chat.postMessage", None, error="internal_error", times=2)
    c.ok("Planning", "Actuals")
    c.tick()
    c.clock.advance(minutes=5)
    c.tick()
    assert c.started() == []
    health = c.conductor.health()
    assert not health.ok and "announce:FCCS/Actuals" in health.detail
    assert c.conductor.wake_at(c.clock.now) == c.clock.now + timedelta(seconds=30)
    c.tick()  # Slack answers again: announced ("now", its time has passed) and started
    assert c.started() == ["Load Actuals"]
    assert c.channel() == [
        ":arrow_forward: Starting *Load Actuals* for *FCCS / Actuals* now: everything it "
        "waits on is OK."
    ]
    assert c.conductor.health().ok


def test_a_conductor_whose_lease_ran_out_sends_no_start(make: MakeConducted) -> None:
    """The lease is checked just before the POST: none is sent, the claim is withdrawn."""
    c = make()
    c.ok("Planning", "Actuals")
    c.tick()
    c.lease.end()
    c.clock.advance(minutes=2)
    c.tick()
    assert c.started() == []
    assert "FCCS/Actuals" not in c.service.meta(CONDUCTOR_META).get("started", {})
    c.tick()  # halted: nothing more, ever
    assert c.started() == []
