"""The reservation rules of reconciler/reservation.py (Kuscia's TaskResourceGroup
semantics, SPEC §6), as plain functions: placement, the steps of one attempt,
retries, expiry, and the status they leave behind."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from builders import Cluster, Plan, plan
from builders.labels import RESERVATION_GATE
from builders.models import AppImage, KusciaTask
from reconciler import reservation, task_status
from tests.reconciler.conftest import example

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def _task(schedule: dict[str, Any] | None = None, **party_edits: Any) -> KusciaTask:
    raw = example("secretflow-task-psi.yaml")
    raw["metadata"].update(uid="u-1", creationTimestamp="2026-01-01T12:00:00Z", generation=1)
    raw["spec"]["scheduleConfig"] = schedule or {}
    for party in raw["spec"]["parties"]:
        party.update(party_edits)
    return KusciaTask.model_validate(raw)


def _image() -> dict[str, Any]:
    image = example("secretflow-image.yaml")
    image["metadata"].update(uid="i-1", generation=1)
    return image


def _plan(task: KusciaTask, *, held: bool = False) -> Plan:
    app_images = {"secretflow-image": AppImage.model_validate(_image())}
    return plan(task, app_images, Cluster(frozenset({"alice", "bob"})), held=held)


def _pod(namespace: str, name: str, *, node: str = "", message: str = "") -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": "Pending"},
    }
    if message:
        pod["status"]["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
            }
        ]
    return pod


def _pods(*pods: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p for p in pods}


NO_CPU = "0/3 nodes are available: 3 Insufficient cpu."


def test_pods_are_made_behind_the_gate_only_when_held() -> None:
    task = _task()
    held = [o for o in _plan(task, held=True).objects if o["kind"] == "Pod"]
    free = [o for o in _plan(task).objects if o["kind"] == "Pod"]
    assert held
    assert all(p["spec"]["schedulingGates"] == [{"name": RESERVATION_GATE}] for p in held)
    assert all("schedulingGates" not in p["spec"] for p in free)


def test_a_new_task_starts_its_first_attempt_held() -> None:
    before = reservation.before_apply({}, task_pods_exist=False, already_created=False, now=T0)
    assert before == reservation.Before({"phase": "Creating", "attempts": 1}, True, True)


def test_a_task_made_before_reservations_were_recorded_counts_as_reserved() -> None:
    before = reservation.before_apply({}, task_pods_exist=True, already_created=True, now=T0)
    assert before.state["phase"] == "Reserved"
    assert not before.held


def test_released_only_once_every_object_exists() -> None:
    task = _task({"resourceReservedSeconds": 10})
    creating = reservation.before_apply({}, task_pods_exist=False, already_created=False, now=T0)
    waiting = reservation.after_apply(
        task, creating, all_objects_exist=False, parties=[], now=T0, expired=False
    )
    assert waiting.state["phase"] == "Creating"
    released = reservation.after_apply(
        task, creating, all_objects_exist=True, parties=[], now=T0, expired=False
    )
    assert released.state["phase"] in ("Reserving", "Reserved")
    parties = reservation.placements(_plan(task), {})
    released = reservation.after_apply(
        task, creating, all_objects_exist=True, parties=parties, now=T0, expired=False
    )
    assert released.state == {
        "phase": "Reserving",
        "attempts": 1,
        "releaseTime": "2026-01-01T12:00:00Z",
        "reserveDeadline": "2026-01-01T12:00:10Z",
    }
    assert released.wake_at == T0 + 10
    # From here on the pods are wanted without their gate.
    after = reservation.before_apply(
        released.state, task_pods_exist=True, already_created=True, now=T0 + 1
    )
    assert after.make_pods
    assert not after.held


def test_placement_counts_bound_pods_and_keeps_the_schedulers_message() -> None:
    task = _task()
    pods = _pods(
        _pod("alice", "secretflow-task-psi-0", node="n1"),
        _pod("bob", "secretflow-task-psi-0", message=NO_CPU),
    )
    alice, bob = reservation.placements(_plan(task), pods)
    assert (alice.placed, alice.wanted, alice.ok) == (1, 1, True)
    assert (bob.placed, bob.ok, bob.reason, bob.message) == (0, False, "Unschedulable", NO_CPU)
    assert not reservation.group_placed(task, [alice, bob])


def test_min_reserved_members_one_of_two_is_placed_with_alice_alone() -> None:
    task = _task({"minReservedMembers": 1})
    pods = _pods(
        _pod("alice", "secretflow-task-psi-0", node="n1"),
        _pod("bob", "secretflow-task-psi-0", message=NO_CPU),
    )
    parties = reservation.placements(_plan(task), pods)
    assert reservation.group_placed(task, parties)
    state = {"phase": "Reserving", "attempts": 1, "reserveDeadline": "2026-01-01T12:00:30Z"}
    before = reservation.Before(state, True, False)
    after = reservation.after_apply(
        task, before, all_objects_exist=True, parties=parties, now=T0, expired=False
    )
    assert after.reserved
    assert after.event is not None
    assert after.event[0] == "Reserved"


def test_min_reserved_pods_counts_within_a_party() -> None:
    task = _task(minReservedPods=1)
    raw_plan = _plan(task)
    assert [p.min_reserved_pods for p in raw_plan.parties] == [1, 1]


def test_a_reservation_not_placed_in_time_fails_removes_the_pods_and_names_the_party() -> None:
    task = _task({"resourceReservedSeconds": 10, "retryIntervalSeconds": 5})
    pods = _pods(
        _pod("alice", "secretflow-task-psi-0", node="n1"),
        _pod("bob", "secretflow-task-psi-0", message=NO_CPU),
    )
    parties = reservation.placements(_plan(task), pods)
    state = {
        "phase": "Reserving",
        "attempts": 1,
        "releaseTime": "2026-01-01T12:00:00Z",
        "reserveDeadline": "2026-01-01T12:00:10Z",
    }
    before = reservation.Before(state, True, False)
    early = reservation.after_apply(
        task, before, all_objects_exist=True, parties=parties, now=T0 + 9, expired=False
    )
    assert early.state == state
    assert not early.remove_pods
    assert early.wake_at == T0 + 10
    late = reservation.after_apply(
        task, before, all_objects_exist=True, parties=parties, now=T0 + 10, expired=False
    )
    assert late.remove_pods
    assert late.warning
    assert late.wake_at == T0 + 15
    assert late.state == {
        "phase": "ReserveFailed",
        "attempts": 1,
        "releaseTime": "2026-01-01T12:00:00Z",
        "retryTime": "2026-01-01T12:00:15Z",
        "unplacedParties": [
            {
                "domainID": "bob",
                "placedPods": 0,
                "minReservedPods": 1,
                "reason": "Unschedulable",
                "message": NO_CPU,
            }
        ],
    }
    assert late.event is not None
    reason, message = late.event
    assert reason == "ReserveFailed"
    assert "domain [bob] can not reserve resources for pods" in message
    assert NO_CPU in message
    assert "attempt 1" in message


def test_after_the_retry_interval_a_new_attempt_is_made_once_the_old_pods_are_gone() -> None:
    failed = {"phase": "ReserveFailed", "attempts": 1, "retryTime": "2026-01-01T12:00:15Z"}
    waiting = reservation.before_apply(
        failed, task_pods_exist=False, already_created=True, now=T0 + 14
    )
    assert not waiting.make_pods
    assert waiting.state == failed
    terminating = reservation.before_apply(
        failed, task_pods_exist=True, already_created=True, now=T0 + 20
    )
    assert not terminating.make_pods
    again = reservation.before_apply(
        failed, task_pods_exist=False, already_created=True, now=T0 + 15
    )
    assert again == reservation.Before({"phase": "Creating", "attempts": 2}, True, True)
    # While it waits, pods still there (a restart came between) are removed again.
    task = _task()
    after = reservation.after_apply(
        task, waiting, all_objects_exist=True, parties=[], now=T0, expired=False
    )
    assert after.remove_pods
    assert after.wake_at == T0 + 15


def test_lifecycle_running_out_first_fails_with_the_attempts_counted() -> None:
    task = _task({"lifecycleSeconds": 40})
    state = {
        "phase": "Reserving",
        "attempts": 3,
        "reserveDeadline": "2026-01-01T12:01:00Z",
    }
    pods = _pods(
        _pod("alice", "secretflow-task-psi-0", node="n1"),
        _pod("bob", "secretflow-task-psi-0", message=NO_CPU),
    )
    parties = reservation.placements(_plan(task), pods)
    after = reservation.after_apply(
        task,
        reservation.Before(state, True, False),
        all_objects_exist=True,
        parties=parties,
        now=T0 + 40,
        expired=True,
    )
    assert after.state["phase"] == "Failed"
    assert after.state["attempts"] == 3
    assert after.remove_pods
    ok, reason, message = reservation.condition(task, after.state)
    assert (ok, reason) == (False, "LifecycleExpired")
    assert "not scheduled within 40 seconds" in message
    assert "3 reservation attempts" in message
    assert "party bob" in message
    assert NO_CPU in message


def test_zero_means_the_default_as_kuscia_reads_it() -> None:
    task = _task({"resourceReservedSeconds": 0, "retryIntervalSeconds": 0, "minReservedMembers": 0})
    assert reservation.resource_reserved_seconds(task) == 30
    assert reservation.retry_interval_seconds(task) == 30
    assert reservation.wanted_members(task, 2) == 2


def test_the_task_stays_pending_until_the_reservation_holds() -> None:
    task = _task()
    result = _plan(task)
    running = _pods(
        {**_pod("alice", "secretflow-task-psi-0", node="n1"), "status": {"phase": "Running"}},
        _pod("bob", "secretflow-task-psi-0", message=NO_CPU),
    )
    observed = task_status.Observed(pods=running, services={})
    state = {"phase": "Reserving", "attempts": 1, "reserveDeadline": "2026-01-01T12:00:30Z"}
    after = reservation.after_apply(
        task,
        reservation.Before(state, True, False),
        all_objects_exist=True,
        parties=reservation.placements(result, running),
        now=T0 + 1,
        expired=False,
    )
    now = datetime.fromtimestamp(T0 + 1, UTC)
    status = task_status.desired_status(
        task, {}, result, observed, now, all_objects_exist=True, reservation=after
    )
    assert status["phase"] == "Pending"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["ResourceReserved"]["status"] == "False"
    assert conditions["ResourceReserved"]["reason"] == "Reserving"
    assert "Running" not in conditions
    assert status["reservation"] == state


def test_a_failed_attempt_is_in_the_status_message_and_its_pods_are_not_gone() -> None:
    task = _task()
    result = _plan(task)
    failed = {
        "phase": "ReserveFailed",
        "attempts": 1,
        "retryTime": "2026-01-01T12:01:00Z",
        "unplacedParties": [{"domainID": "bob", "placedPods": 0, "minReservedPods": 1}],
    }
    after = reservation.After(failed, remove_pods=True)
    old = {"podStatuses": {"alice/secretflow-task-psi-0": {"podName": "secretflow-task-psi-0"}}}
    now = datetime.fromtimestamp(T0 + 31, UTC)
    status = task_status.desired_status(
        task,
        old,
        result,
        task_status.Observed({}, {}),
        now,
        all_objects_exist=True,
        reservation=after,
    )
    assert status["phase"] == "Pending"  # not PodNotFound: the reservation removed them
    assert "domain [bob] can not reserve resources" in status["message"]


def test_an_expired_reservation_fails_the_task_with_its_reason() -> None:
    task = _task({"lifecycleSeconds": 60})
    failed = {"phase": "Failed", "attempts": 2}
    now = datetime.fromtimestamp(T0 + 61, UTC)
    status = task_status.desired_status(
        task,
        {},
        _plan(task),
        task_status.Observed({}, {}),
        now,
        all_objects_exist=True,
        reservation=reservation.After(failed),
    )
    assert status["phase"] == "Failed"
    assert status["reason"] == "LifecycleExpired"
    assert "2 reservation attempts" in status["message"]


def test_where_pod_groups_are_served_each_party_is_one_gang_of_min_reserved_pods() -> None:
    task = _task(minReservedPods=1)
    raw = _image()
    raw["spec"]["deployTemplates"][0]["replicas"] = 3
    image = AppImage.model_validate(raw)
    result = plan(
        task, {"secretflow-image": image}, Cluster(frozenset({"alice", "bob"})), gangs=True
    )
    groups = [o for o in result.objects if o["kind"] == "PodGroup"]
    assert [(g["metadata"]["namespace"], g["metadata"]["name"]) for g in groups] == [
        ("alice", "secretflow-task-psi"),
        ("bob", "secretflow-task-psi"),
    ]
    assert all(g["apiVersion"] == "scheduling.k8s.io/v1beta1" for g in groups)
    assert all(g["spec"]["schedulingPolicy"] == {"gang": {"minCount": 1}} for g in groups)
    pods = [o for o in result.objects if o["kind"] == "Pod"]
    assert len(pods) == 6
    assert all(
        p["spec"]["schedulingGroup"] == {"podGroupName": "secretflow-task-psi"} for p in pods
    )


def test_where_they_are_not_served_nothing_changes() -> None:
    task = _task()
    assert (
        _plan(task).objects
        == plan(
            task,
            {"secretflow-image": AppImage.model_validate(_image())},
            Cluster(frozenset({"alice", "bob"})),
            gangs=False,
        ).objects
    )
    assert not any(o["kind"] == "PodGroup" for o in _plan(task).objects)
    before = reservation.before_apply({}, task_pods_exist=False, already_created=False, now=T0)
    assert not before.gangs
    assert "gangScheduling" not in before.state


def test_an_attempt_keeps_the_gang_choice_it_started_with() -> None:
    started = reservation.before_apply(
        {}, task_pods_exist=False, already_created=False, now=T0, gangs=True
    )
    assert started.gangs
    # Later rounds read it from the status, whatever the cluster serves meanwhile:
    # a pod's group cannot change once the pod exists.
    task = _task({"resourceReservedSeconds": 5})
    after = reservation.after_apply(
        task, started, all_objects_exist=True, parties=[], now=T0, expired=False
    )
    again = reservation.before_apply(
        after.state, task_pods_exist=True, already_created=True, now=T0 + 1, gangs=False
    )
    assert again.gangs
    # A new attempt takes what is served then.
    failed = {
        "phase": "ReserveFailed",
        "attempts": 1,
        "gangScheduling": True,
        "retryTime": "2026-01-01T12:00:01Z",
    }
    retried = reservation.before_apply(
        failed, task_pods_exist=False, already_created=True, now=T0 + 2, gangs=False
    )
    assert not retried.gangs
