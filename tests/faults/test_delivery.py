"""Alert and DM delivery under faults (SPEC §15): crashes, a store that cannot write,
an import into a running deployment, subscriptions changing between crash and resume,
and a leader whose epoch is over."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from slack_sdk import WebClient

from bot.config import Config
from bot.lease import Lease, claim_epoch
from bot.service import StatusService
from bot.slack.delivery import CURSOR_META, Delivery
from bot.slack.subscriptions import Subscriptions
from bot.store import JsonStore, Mutation
from bot.store.postgres import PostgresStore
from bot.store.transfer import import_json_store
from tests.conftest import FakeClock, MakeConfig
from tests.faults.faulty import Crash, CrashingClient, ReadOnlyStore
from tests.slack.conftest import ALERT_CHANNEL, sandbox  # noqa: F401 - fixture

T = TypeVar("T")
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"


@pytest.fixture
def slack_config(make_config: MakeConfig, sandbox: Any) -> Config:  # noqa: F811
    """The default estate pointed at the sandbox, alerting to the alert channel."""
    return make_config(
        SLACK_BOT_TOKEN=sandbox.bot_token,
        SLACK_API_URL=sandbox.api_url,
        SLACK_CHANNEL_ID=ALERT_CHANNEL,
    )


@pytest.fixture
def client(sandbox: Any) -> WebClient:  # noqa: F811
    """A plain client without in-place retries."""
    return WebClient(token=sandbox.bot_token, base_url=sandbox.api_url, retry_handlers=[])


def posts(sandbox: Any, channel: str | None = None) -> list[str]:  # noqa: F811
    """Texts of the successful chat.postMessage calls, in order (optionally to one channel)."""
    return [
        f"{c.args['channel']}: {c.args['text']}"
        for c in sandbox.calls("chat.postMessage")
        if c.status == 200 and (channel is None or c.args["channel"] == channel)
    ]


@pytest.mark.parametrize("crash_at", ["before the post", "after the post", "after the record"])
def test_a_crash_at_any_line_loses_no_alert_and_repeats_at_most_the_one_in_flight(
    crash_at: str,
    slack_config: Config,
    client: WebClient,
    sandbox: Any,  # noqa: F811
) -> None:
    """Killed before the POST, after it, or after its record: the next leader completes."""
    store = JsonStore(slack_config.settings.data_dir)
    service = StatusService(slack_config.estate.layout, store)
    Delivery(service, client, ALERT_CHANNEL).cursor()
    service.set("Planning", "Actuals", "Error", by="system")
    service.set("Planning", "Budget", "Error", by="system")
    crashing = CrashingClient(client, crash_on_post=2, after_sending=crash_at != "before the post")
    first = Delivery(service, crashing, ALERT_CHANNEL)
    if crash_at == "after the record":
        crashing.crash_on_post = None
        real = store.commit
        saves: list[int] = []

        def crash_after_second_save(mutation: Mutation[T]) -> T:
            result = real(mutation)
            saves.append(1)
            if len(saves) == 2:
                raise Crash("killed after the record")
            return result

        store.commit = crash_after_second_save  # type: ignore[method-assign]
    with pytest.raises(Crash):
        first.run_once()
    store.commit = JsonStore.commit.__get__(store)  # type: ignore[method-assign]
    resumed = Delivery(service, client, ALERT_CHANNEL)
    resumed.run_once()
    expected = {
        "before the post": ["Actuals", "Budget"],
        "after the post": ["Actuals", "Budget", "Budget"],  # the one allowed repeat
        "after the record": ["Actuals", "Budget"],
    }[crash_at]
    assert posts(sandbox) == [
        f"{ALERT_CHANNEL}: Planning / {name} is now Error" for name in expected
    ]
    assert resumed.run_once() == 0
    store.close()


def test_while_the_cursor_cannot_be_saved_delivery_pauses(
    slack_config: Config,
    client: WebClient,
    sandbox: Any,  # noqa: F811
) -> None:
    """Store readable, not writable: one post goes out, then nothing until it is recorded."""
    store = ReadOnlyStore(slack_config.settings.data_dir)
    service = StatusService(slack_config.estate.layout, store)
    clock = FakeClock()
    delivery = Delivery(service, client, ALERT_CHANNEL, clock=clock)
    delivery.cursor()
    apps = [("Planning", d) for d in ("Actuals", "Forecast", "Budget")] + [
        ("FCCS", "Actuals"),
        ("FCCS", "Consolidation"),
        ("ARCS", "Reconciliation"),
    ]
    for app, domain in apps:
        service.set(app, domain, "Error", by="system")
    store.read_only = True
    for _ in range(6):
        delivery.run_once()
        clock.advance(120)
    assert len(posts(sandbox)) == 1
    # The next leader, with the store writable again, sends the rest (the first at most
    # once more: it was posted but never recorded).
    store.read_only = False
    successor = Delivery(service, client, ALERT_CHANNEL)
    successor.run_once()
    alerts = [f"{ALERT_CHANNEL}: {app} / {domain} is now Error" for app, domain in apps]
    assert posts(sandbox) == alerts[:1] + alerts
    store.close()


def test_a_subscription_change_between_crash_and_resume_neither_repeats_nor_skips_a_dm(
    slack_config: Config,
    client: WebClient,
    sandbox: Any,  # noqa: F811
) -> None:
    """The cursor names the recipients reached, not a count of a list rebuilt later."""
    store = JsonStore(slack_config.settings.data_dir)
    service = StatusService(slack_config.estate.layout, store)
    subscriptions = Subscriptions(service)
    subscriptions.subscribe(ALICE, "Planning")
    subscriptions.subscribe(BOB, "Planning")
    Delivery(service, client, ALERT_CHANNEL).cursor()
    service.set("Planning", "Actuals", "Error", by="system")
    # Posts of that commit: the channel alert, Alice's DM, Bob's DM. Killed before Bob's.
    with pytest.raises(Crash):
        Delivery(service, CrashingClient(client, crash_on_post=3), ALERT_CHANNEL).run_once()
    subscriptions.unsubscribe(ALICE, "Planning")
    subscriptions.subscribe(CAROL, "Planning")
    Delivery(service, client, ALERT_CHANNEL).run_once()
    recipients = [c.args["channel"] for c in sandbox.calls("chat.postMessage")]
    assert recipients.count(ALERT_CHANNEL) == 1
    assert recipients.count(ALICE) == 1
    assert recipients.count(BOB) == 1
    store.close()


def test_an_old_leaders_late_cursor_write_is_refused_and_it_posts_nothing_more(
    slack_config: Config,
    client: WebClient,
    sandbox: Any,  # noqa: F811
) -> None:
    """Fencing: once a newer leader claimed an epoch, the old one's writes are refused."""
    store = JsonStore(slack_config.settings.data_dir)
    service = StatusService(slack_config.estate.layout, store)
    old_lease, new_lease = Lease.held(), Lease.held()
    stepped_down: list[str] = []
    old_lease.on_lost = stepped_down.append
    old_lease.epoch = claim_epoch(store)
    old = Delivery(service, client, ALERT_CHANNEL, lease=old_lease)
    old.cursor()
    service.set("Planning", "Actuals", "Error", by="system")
    new_lease.epoch = claim_epoch(store)  # a new leader took over
    stored = service.meta(CURSOR_META)
    assert old.run_once() == 1  # its lease was still fresh when it posted
    assert service.meta(CURSOR_META) == stored  # but its record was refused
    assert len(stepped_down) == 1 and "epoch" in stepped_down[0]  # so it gives leadership up
    assert not old_lease.fresh
    service.set("Planning", "Budget", "Error", by="system")
    assert old.run_once() == 0  # and it posts nothing more
    new = Delivery(service, client, ALERT_CHANNEL, lease=new_lease)
    new.run_once()
    assert posts(sandbox) == [
        f"{ALERT_CHANNEL}: Planning / Actuals is now Error",
        f"{ALERT_CHANNEL}: Planning / Actuals is now Error",  # the one repeat of a failover
        f"{ALERT_CHANNEL}: Planning / Budget is now Error",
    ]
    store.close()


@pytest.fixture
def pg_service(pg_url: str, slack_config: Config) -> Iterator[StatusService]:
    """The status service over a fresh PostgreSQL schema."""
    store = PostgresStore(pg_url)
    yield StatusService(slack_config.estate.layout, store)
    store.close()


def test_an_import_into_a_running_deployment_alerts_no_one(
    pg_service: StatusService,
    make_config: MakeConfig,
    tmp_path: Path,
    client: WebClient,
    sandbox: Any,  # noqa: F811
) -> None:
    """``epmpulse import`` of past Error changes beside a running leader posts nothing,
    and the old ``run``'s epoch does not fence the running leader."""
    lease = Lease.held()
    lease.epoch = claim_epoch(pg_service.store)
    delivery = Delivery(pg_service, client, ALERT_CHANNEL, lease=lease)
    delivery.cursor()
    pg_service.set_meta("warm-up", 1)  # the leader has ticked: it holds a position
    assert delivery.run_once() == 0
    source = JsonStore(tmp_path / "old")
    for _ in range(3):  # every `run` on the old data directory claimed an epoch
        claim_epoch(source)
    old = StatusService(pg_service.layout, source)
    for domain in ("Actuals", "Forecast", "Budget"):
        old.set("Planning", domain, "Error", by="system")
        old.set("Planning", domain, "OK", by="system")
    source.close()
    assert isinstance(pg_service.store, PostgresStore)
    assert import_json_store(tmp_path / "old", pg_service.store, cursor=CURSOR_META).imported
    assert delivery.run_once() == 0
    pg_service.set("FCCS", "Actuals", "Error", by="system")  # news after the import
    assert delivery.run_once() == 1
    assert posts(sandbox) == [f"{ALERT_CHANNEL}: FCCS / Actuals is now Error"]
    # Still the leader: its cursor write was taken, not fenced by the old run's epoch.
    assert lease.fresh
    assert pg_service.meta(CURSOR_META)["version"] == pg_service.store.history()[-1]["version"]
