"""Sign-off messages under faults (SPEC §15, §18): each request posted once, none lost.

The outbox claims a request in a commit before posting it and records the post after:
a crash between the two repeats that one post, a crash before the post loses nothing, a
store that cannot record does not make the same process post again, and a leader whose
lease ran out posts nothing more.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from slack_sdk import WebClient

from bot.config import Config
from bot.lease import Lease
from bot.sandbox.slack import SlackSandbox
from bot.service import StatusService
from bot.signoff import requests
from bot.slack.client import build_leased_client
from bot.slack.signoff_outbox import SignOffOutbox
from tests.conftest import MakeConfig
from tests.faults.faulty import Crash, CrashingClient, ReadOnlyStore

CHANNEL = "C0SIGNOFF"
ESTATE = """
apps:
  FCCS: {domains: [Actuals, Consolidation]}
close:
  sign_off: {domains: all, approvers: [U0BOB]}
"""


@dataclass
class Setup:
    """A service over a store that can be made read-only, and the sandbox it posts to."""

    service: StatusService
    store: ReadOnlyStore
    sandbox: SlackSandbox
    client: WebClient
    config: Config

    def reopen(self) -> StatusService:
        """A new process over the same data dir."""
        return StatusService(self.service.layout, ReadOnlyStore(self.store.data_dir))

    def posts(self) -> int:
        """Request messages posted to the channel."""
        return len(self.sandbox.messages(CHANNEL))


@pytest.fixture
def setup(make_config: MakeConfig) -> Iterator[Setup]:
    """Two requests waiting (both FCCS domains set OK by CAROL), nothing posted yet."""
    with SlackSandbox() as sandbox:
        sandbox.add_channel(CHANNEL, "close")
        config = make_config(
            ESTATE,
            SLACK_BOT_TOKEN=sandbox.bot_token,
            SLACK_API_URL=sandbox.api_url,
            SLACK_CHANNEL_ID=CHANNEL,
        )
        store = ReadOnlyStore(config.settings.data_dir)
        service = StatusService(config.estate.layout, store)
        service.set("FCCS", "Actuals", "OK", by="slack:U0CAROL")
        service.set("FCCS", "Consolidation", "OK", by="slack:U0CAROL")
        client = WebClient(token=sandbox.bot_token, base_url=sandbox.api_url)
        yield Setup(service, store, sandbox, client, config)
        store.close()


def test_a_crash_before_the_post_loses_nothing(setup: Setup) -> None:
    """Killed after the claim, before Slack got the post: the next leader posts it, once."""
    crashing = CrashingClient(setup.client, crash_on_post=1)
    with pytest.raises(Crash):
        SignOffOutbox(setup.service, crashing, CHANNEL).run_once()
    assert setup.posts() == 0
    claimed = [r.claimed for r in requests(setup.service.store.snapshot().meta).values()]
    assert claimed == [0, None]  # the first was claimed (epoch 0: no leader election)

    again = setup.reopen()
    assert SignOffOutbox(again, setup.client, CHANNEL).run_once() is True
    assert setup.posts() == 2
    assert all(r.ts for r in requests(again.store.snapshot().meta).values())


def test_a_crash_between_post_and_record_repeats_that_one_post_only(setup: Setup) -> None:
    """Killed after Slack got the post: the next leader posts it again, and nothing else."""
    crashing = CrashingClient(setup.client, crash_on_post=1, after_sending=True)
    with pytest.raises(Crash):
        SignOffOutbox(setup.service, crashing, CHANNEL).run_once()
    assert setup.posts() == 1

    again = setup.reopen()
    outbox = SignOffOutbox(again, setup.client, CHANNEL)
    assert outbox.run_once() is True and outbox.run_once() is True
    texts = [m.text for m in setup.sandbox.messages(CHANNEL)]
    assert len(texts) == 3  # the one allowed repeat of Actuals, and Consolidation
    assert texts.count("FCCS / Consolidation: OK awaiting approval") == 1


def test_a_post_whose_record_fails_is_recorded_later_not_posted_again(setup: Setup) -> None:
    """The store refuses the record after a post: the same process records it, no repost."""
    gate = setup.sandbox.hold("chat.postMessage")
    outbox = SignOffOutbox(setup.service, setup.client, CHANNEL)
    result: list[bool] = []
    sending = threading.Thread(target=lambda: result.append(outbox.run_once()))
    sending.start()
    assert gate.arrived.wait(5)
    setup.store.read_only = True
    gate.release()
    sending.join(5)
    assert result == [False] and outbox.last_error is not None
    assert setup.posts() == 1

    setup.store.read_only = False
    assert outbox.run_once() is True
    assert setup.posts() == 2  # Actuals recorded, Consolidation posted: no repeat
    assert all(r.ts for r in requests(setup.service.store.snapshot().meta).values())


def test_a_leader_whose_lease_ran_out_mid_post_posts_nothing_more(setup: Setup) -> None:
    """Each post is checked against the lease just before it is sent; then the sender halts."""
    lease = Lease.held()
    outbox = SignOffOutbox(
        setup.service, build_leased_client(setup.config.settings, lease), CHANNEL, lease=lease
    )
    gate = setup.sandbox.hold("chat.postMessage")
    sending = threading.Thread(target=outbox.run_once)
    sending.start()
    assert gate.arrived.wait(5)
    lease.end()
    gate.release()
    sending.join(5)
    assert setup.posts() == 1
    assert outbox.run_once() is False  # halted: still nothing
    assert len(setup.sandbox.calls("chat.postMessage")) == 1


def test_a_post_slack_refuses_for_good_blocks_no_other(setup: Setup) -> None:
    """channel_not_found for one request is not retried; the other request still goes out."""
    setup.sandbox.inject("chat.postMessage", None, error="channel_not_found", times=1)
    outbox = SignOffOutbox(setup.service, setup.client, CHANNEL)
    assert outbox.run_once() is True and outbox.run_once() is True
    assert setup.posts() == 1
    assert len(setup.sandbox.calls("chat.postMessage")) == 2
    stored = list(requests(setup.service.store.snapshot().meta).values())
    assert [r.ts == "" for r in stored] == [True, False]  # "": refused, never tried again
