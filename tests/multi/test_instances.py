"""Two and three ``epmpulse run`` instances on one database (SPEC §10)."""

from __future__ import annotations

import itertools
import time

import psycopg

from tests.multi.conftest import LEADER_TIMEOUT, Cluster, wait_until


def test_two_instances_share_the_board_one_leads_and_a_killed_leader_is_replaced(
    cluster: Cluster,
) -> None:
    """Writes via either instance show on both; SIGKILL of the leader: the other takes over."""
    first = cluster.start("first")
    wait_until(first.is_leader, LEADER_TIMEOUT + 2, "the first instance leads")
    second = cluster.start("second")
    assert [i.name for i in cluster.leaders()] == ["first"]
    wait_until(lambda: cluster.sandbox.connection_count == 2, 10, "two socket connections")

    second.set("Planning", "Actuals", "Error", "written via second")
    assert first.get("Planning", "Actuals")["status"] == "Error"
    first.set("FCCS", "Actuals", "Warning", "written via first")
    assert second.get("FCCS", "Actuals")["message"] == "written via first"
    wait_until(
        lambda: "written via first" in cluster.sandbox.canvas_markdown(cluster.canvas_id),
        10,
        "the leader publishes both changes",
    )
    wait_until(lambda: len(cluster.alerts()) == 2, 10, "two alerts")
    # Kill outside the crash window between a publish and its record, so that a repeated
    # publish below can only come from two leaders at once.
    wait_until(cluster.last_publish_recorded, 10, "the leader records its publish")

    killed_at = time.monotonic()
    first.kill()
    wait_until(second.is_leader, LEADER_TIMEOUT + 2, "the second instance takes over")
    second.set("ARCS", "Reconciliation", "Error", "after failover")
    wait_until(
        lambda: "after failover" in cluster.sandbox.canvas_markdown(cluster.canvas_id),
        10,
        "the new leader publishes",
    )
    assert time.monotonic() - killed_at < LEADER_TIMEOUT + 10
    wait_until(lambda: len(cluster.alerts()) == 3, 10, "the third alert")
    time.sleep(1.5)  # a duplicate would have arrived by now
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
    wait_until(lambda: len(cluster.leaders()) == 1, LEADER_TIMEOUT + 2, "one leader")
    healths = [i.health() or {} for i in instances]
    assert sorted(h["leader"] for h in healths) == [False, False, True]
    assert len({h["instance"] for h in healths}) == 3
    cluster.set_from_shell("FCCS", "Consolidation", "Error")
    for instance in instances:
        assert instance.get("FCCS", "Consolidation")["status"] == "Error"
    wait_until(lambda: len(cluster.alerts()) == 1, 10, "the alert")
    wait_until(
        lambda: (
            "Consolidation | :red_circle: Error"
            in cluster.sandbox.canvas_markdown(cluster.canvas_id)
        ),
        10,
        "the canvas shows the shell's change",
    )
    time.sleep(1.5)
    assert cluster.alerts() == ["FCCS / Consolidation is now Error"]
    assert len(cluster.leaders()) == 1
    # /epmpulse refresh reaches the leader whichever instance Slack hands it to.
    for _ in instances:  # round robin: each instance serves one
        before = len(cluster.publishes())
        cluster.sandbox.send_command("refresh", timeout=5)
        wait_until(lambda b=before: len(cluster.publishes()) > b, 10, "a forced publish")


def test_a_leader_whose_database_session_is_cut_stops_publishing(cluster: Cluster) -> None:
    """pg_terminate_backend of the leader's session while another holds the lock: no publish."""
    only = cluster.start("only")
    wait_until(only.is_leader, LEADER_TIMEOUT + 2, "the instance leads")
    only.set("Planning", "Budget", "OK", "published while leading")
    wait_until(
        lambda: "published while leading" in cluster.sandbox.canvas_markdown(cluster.canvas_id),
        10,
        "the first change is published",
    )
    schema = cluster.pg_url.rsplit("search_path%3D", 1)[1]
    with psycopg.connect(cluster.pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 'epmpulse-leader %'"
        )
        # Hold the lock as another instance would, so this one cannot win it back.
        wait_until(
            lambda: (
                admin.execute(
                    "SELECT pg_try_advisory_lock(hashtext('epmpulse.leader.' || %s))", (schema,)
                ).fetchone()
                == (True,)
            ),
            5,
            "the test takes the leader lock",
        )
        wait_until(lambda: not only.is_leader(), 3, "the cut leader steps down")
        publishes = len(cluster.publishes())
        only.set("Planning", "Budget", "Error", "while not leading")
        time.sleep(2)
        assert len(cluster.publishes()) == publishes
        assert "while not leading" not in cluster.sandbox.canvas_markdown(cluster.canvas_id)
        assert (only.health() or {}).get("leader") is False
    # The lock is free again (our session ended): the instance leads and catches up.
    wait_until(only.is_leader, LEADER_TIMEOUT + 2, "the instance leads again")
    wait_until(
        lambda: "while not leading" in cluster.sandbox.canvas_markdown(cluster.canvas_id),
        10,
        "the pending change is published",
    )
