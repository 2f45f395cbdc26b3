"""Two and three ``epmpulse run`` instances on one database (SPEC §10)."""

from __future__ import annotations

import itertools
import socket

import psycopg

from tests.conftest import wait_until
from tests.multi.conftest import LEADER_TIMEOUT, Cluster


def test_two_instances_share_the_board_one_leads_and_a_killed_leader_is_replaced(
    cluster: Cluster,
) -> None:
    """Writes via either instance show on both; SIGKILL of the leader: the other takes over."""
    first = cluster.start("first")
    wait_until(first.is_leader, "the first instance leads", LEADER_TIMEOUT + 2)
    second = cluster.start("second")
    assert [i.name for i in cluster.leaders()] == ["first"]
    wait_until(lambda: cluster.sandbox.connection_count == 2, "two socket connections", 10)

    second.set("Planning", "Actuals", "Error", "written via second")
    assert first.get("Planning", "Actuals")["status"] == "Error"
    first.set("FCCS", "Actuals", "Warning", "written via first")
    assert second.get("FCCS", "Actuals")["message"] == "written via first"
    wait_until(
        lambda: "written via first" in cluster.sandbox.canvas_markdown(cluster.canvas_id),
        "the leader publishes both changes",
        10,
    )
    wait_until(lambda: len(cluster.alerts()) == 2, "two alerts", 10)
    # Kill outside the crash window between a publish and its record, so that a repeated
    # publish below can only come from two leaders at once.
    wait_until(cluster.last_publish_recorded, "the leader records its publish", 10)

    first.kill()
    wait_until(second.is_leader, "the second instance takes over", LEADER_TIMEOUT + 2)
    second.set("ARCS", "Reconciliation", "Error", "after failover")
    wait_until(
        lambda: "after failover" in cluster.sandbox.canvas_markdown(cluster.canvas_id),
        "the new leader publishes",
        10,
    )
    wait_until(lambda: len(cluster.alerts()) == 3, "the third alert", 10)
    # The cursor covers every change and the killed leader is gone: nobody sends again.
    wait_until(cluster.alerts_recorded, "the new leader records the third alert", 10)
    assert cluster.alerts() == [
        "Planning / Actuals is now Error",
        "FCCS / Actuals is now Warning",
        "ARCS / Reconciliation is now Error",
    ]
    publishes = cluster.publishes()
    assert all(a != b for a, b in itertools.pairwise(publishes))


def test_three_instances_have_one_leader_and_a_shell_set_is_alerted_once(
    cluster: Cluster,
) -> None:
    """Exactly one of three leads; ``epmpulse set`` beside them is seen by all, alerted once."""
    instances = [cluster.start(name) for name in ("a", "b", "c")]
    wait_until(lambda: len(cluster.leaders()) == 1, "one leader", LEADER_TIMEOUT + 2)
    healths = [i.health() or {} for i in instances]
    assert sorted(h["leader"] for h in healths) == [False, False, True]
    assert len({h["instance"] for h in healths}) == 3
    cluster.set_from_shell("FCCS", "Consolidation", "Error")
    for instance in instances:
        assert instance.get("FCCS", "Consolidation")["status"] == "Error"
    wait_until(lambda: len(cluster.alerts()) == 1, "the alert", 10)
    wait_until(
        lambda: (
            "Consolidation | :red_circle: Error"
            in cluster.sandbox.canvas_markdown(cluster.canvas_id)
        ),
        "the canvas shows the shell's change",
        10,
    )
    # The leader recorded the alert and the others run no leader-only part: no second post.
    wait_until(cluster.alerts_recorded, "the leader records the alert", 10)
    followers = [i for i in instances if not i.is_leader()]
    assert len(followers) == 2 and all(i.on_standby() for i in followers)
    assert cluster.alerts() == ["FCCS / Consolidation is now Error"]
    assert len(cluster.leaders()) == 1
    # /epmpulse refresh reaches the leader whichever instance Slack hands it to.
    for _ in instances:  # round robin: each instance serves one
        before = len(cluster.publishes())
        cluster.sandbox.send_command("refresh", timeout=5)
        wait_until(lambda b=before: len(cluster.publishes()) > b, "a forced publish", 10)


def test_a_leader_whose_database_session_is_cut_stops_publishing(cluster: Cluster) -> None:
    """pg_terminate_backend of the leader's session while another holds the lock: no publish."""
    only = cluster.start("only")
    wait_until(only.is_leader, "the instance leads", LEADER_TIMEOUT + 2)
    only.set("Planning", "Budget", "OK", "published while leading")
    wait_until(
        lambda: "published while leading" in cluster.sandbox.canvas_markdown(cluster.canvas_id),
        "the first change is published",
        10,
    )
    schema = cluster.pg_url.rsplit("search_path%3D", 1)[1]
    with psycopg.connect(cluster.pg_url, autocommit=True) as admin:
        # Its session only (named after its host:pid): other test runs may share the server.
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"epmpulse-leader {socket.gethostname()}:{only.proc.pid}",),
        )
        # Hold the lock as another instance would, so this one cannot win it back.
        wait_until(
            lambda: (
                admin.execute(
                    "SELECT pg_try_advisory_lock(hashtext('epmpulse.leader.' || %s))", (schema,)
                ).fetchone()
                == (True,)
            ),
            "the test takes the leader lock",
            5,
        )
        wait_until(lambda: not only.is_leader(), "the cut leader steps down", 3)
        # Its canvas part is halted, so nothing can publish the change below.
        wait_until(only.on_standby, "every leader-only part halted", 3)
        publishes = len(cluster.publishes())
        only.set("Planning", "Budget", "Error", "while not leading")
        assert len(cluster.publishes()) == publishes
        assert "while not leading" not in cluster.sandbox.canvas_markdown(cluster.canvas_id)
        assert (only.health() or {}).get("leader") is False
    # The lock is free again (our session ended): the instance leads and catches up.
    wait_until(only.is_leader, "the instance leads again", LEADER_TIMEOUT + 2)
    wait_until(
        lambda: "while not leading" in cluster.sandbox.canvas_markdown(cluster.canvas_id),
        "the pending change is published",
        10,
    )
