"""The status rules as pure functions: Kuscia's shape of podStatuses and serviceStatuses,
and Kuscia's lifecycle rules (minReservedMembers, stuck containers, a failed task's
parties and pods)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from builders import Plan, plan
from builders.models import KusciaTask
from reconciler import task_status
from tests.builders.examples import ALICE_AND_BOB, TASK_UID, make_app_image, party

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CREATED = "2026-01-02T03:00:00Z"
IMAGE = make_app_image([{"name": "main", "ports": [{"name": "fed", "scope": "Cluster"}]}])
THREE = ALICE_AND_BOB.__class__(namespaces=frozenset({"alice", "bob", "carol"}))


def _task(domains: list[str], **schedule: int) -> KusciaTask:
    return KusciaTask.model_validate(
        {
            "metadata": {
                "name": "t1",
                "namespace": "cross-domain",
                "uid": TASK_UID,
                "creationTimestamp": CREATED,
            },
            "spec": {
                "initiator": domains[0],
                "scheduleConfig": schedule,
                "parties": [party(domain) for domain in domains],
            },
        }
    )


def _pod(domain: str, phase_: str = "Pending", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "t1-0", "namespace": domain, "creationTimestamp": CREATED},
        "spec": {"nodeName": "node-1"} if phase_ != "Pending" else {},
        "status": {"phase": phase_, **status},
    }


def _status(
    task: KusciaTask,
    pods: dict[str, dict[str, Any]],
    services: dict[str, dict[str, Any]] | None = None,
    old: dict[str, Any] | None = None,
) -> dict[str, Any]:
    result: Plan = plan(task, {"img": IMAGE}, THREE)
    observed = task_status.Observed(
        pods={f"{d}/t1-0": p for d, p in pods.items()}, services=services or {}
    )
    return task_status.desired_status(
        task, old or {}, result, observed, NOW, all_objects_exist=True
    )


def _waiting(reason: str, message: str = "") -> dict[str, Any]:
    state = {"waiting": {"reason": reason, "message": message}}
    return {"containerStatuses": [{"name": "main", "state": state, "ready": False}]}


# --- Kuscia's shape ---------------------------------------------------------------------


def test_pod_statuses_carry_kuscias_pod_phase_schedule_and_ready_times() -> None:
    conditions = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-02T03:00:01Z"},
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-02T03:00:09Z"},
    ]
    pods = {
        "alice": _pod("alice", "Running", startTime="2026-01-02T03:00:02Z", conditions=conditions),
        "bob": _pod("bob", "Running"),
    }
    entry = _status(_task(["alice", "bob"]), pods)["podStatuses"]["alice/t1-0"]
    assert entry == {
        "podName": "t1-0",
        "namespace": "alice",
        "podPhase": "Running",
        "nodeName": "node-1",
        "createTime": CREATED,
        "scheduleTime": "2026-01-02T03:00:01Z",
        "startTime": "2026-01-02T03:00:02Z",
        "readyTime": "2026-01-02T03:00:09Z",
    }
    assert "phase" not in entry


def test_an_unscheduled_pod_reports_the_schedulers_reason_and_message() -> None:
    unscheduled = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/1 nodes are available: 1 Insufficient cpu.",
    }
    pods = {"alice": _pod("alice", conditions=[unscheduled]), "bob": _pod("bob")}
    entry = _status(_task(["alice", "bob"]), pods)["podStatuses"]["alice/t1-0"]
    assert entry["reason"] == "Unschedulable"
    assert entry["message"] == "0/1 nodes are available: 1 Insufficient cpu."
    assert "scheduleTime" not in entry


def test_a_waiting_container_reports_its_reason_and_message() -> None:
    pods = {"alice": _pod("alice", **_waiting("ContainerCreating", "pulling")), "bob": _pod("bob")}
    status = _status(_task(["alice", "bob"]), pods)
    entry = status["podStatuses"]["alice/t1-0"]
    assert entry["reason"] == "ContainerCreating"
    assert (
        entry["message"]
        == 'container[main] waiting state reason: "ContainerCreating", message: "pulling"'
    )
    assert status["phase"] == "Pending"  # waiting to be created is not failing


def test_a_terminated_container_reports_its_termination_log() -> None:
    terminated = {"terminated": {"exitCode": 2, "reason": "Error", "message": "Traceback: boom"}}
    containers = [{"name": "main", "state": terminated}]
    pods = {"alice": _pod("alice", "Failed", containerStatuses=containers), "bob": _pod("bob")}
    entry = _status(_task(["alice", "bob"]), pods)["podStatuses"]["alice/t1-0"]
    assert entry["terminationLog"] == (
        'container[main] terminated state reason "Error", message: "Traceback: boom"'
    )
    assert entry["reason"] == "Error"


def test_a_restarted_container_reports_its_last_termination() -> None:
    last = {"terminated": {"exitCode": 1, "reason": "Error", "message": "oom"}}
    containers = [{"name": "main", "state": {"running": {}}, "lastState": last}]
    pods = {"alice": _pod("alice", "Running", containerStatuses=containers), "bob": _pod("bob")}
    entry = _status(_task(["alice", "bob"]), pods)["podStatuses"]["alice/t1-0"]
    assert entry["terminationLog"] == (
        'container[main] last terminated state reason "Error", message: "oom"'
    )


def _service(domain: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "t1-0-fed", "namespace": domain, "creationTimestamp": CREATED}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta}


def test_service_ready_time_is_kuscias_gateway_annotation_else_its_pods_ready_time() -> None:
    ready = [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-02T03:00:09Z"}]
    pods = {"alice": _pod("alice", "Running", conditions=ready), "bob": _pod("bob", "Running")}
    services = {
        "alice/t1-0-fed": _service("alice"),
        "bob/t1-0-fed": _service(
            "bob", {task_status.READY_TIME_ANNOTATION: "2026-01-02T03:00:07Z"}
        ),
    }
    statuses = _status(_task(["alice", "bob"]), pods, services)["serviceStatuses"]
    assert statuses["alice/t1-0-fed"]["readyTime"] == "2026-01-02T03:00:09Z"
    assert statuses["bob/t1-0-fed"]["readyTime"] == "2026-01-02T03:00:07Z"


# --- Kuscia's lifecycle rules ---------------------------------------------------------------


def test_a_task_succeeds_once_min_reserved_members_parties_succeeded() -> None:
    pods = {
        "alice": _pod("alice", "Succeeded"),
        "bob": _pod("bob", "Succeeded"),
        "carol": _pod("carol", "Running"),
    }
    status = _status(_task(["alice", "bob", "carol"], minReservedMembers=2), pods)
    assert status["phase"] == "Succeeded"
    assert [p["phase"] for p in status["partyTaskStatus"]] == ["Succeeded", "Succeeded", "Running"]


def test_without_min_reserved_members_every_party_must_succeed() -> None:
    pods = {"alice": _pod("alice", "Succeeded"), "bob": _pod("bob", "Running")}
    for schedule in ({}, {"minReservedMembers": 0}):
        assert _status(_task(["alice", "bob"], **schedule), pods)["phase"] == "Running"


@pytest.mark.parametrize(
    "reason",
    [
        "CrashLoopBackOff",
        "CreateContainerError",
        "CreateContainerConfigError",
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
    ],
)
@pytest.mark.parametrize("pod_phase", ["Pending", "Running"])
def test_a_pod_whose_container_is_stuck_waiting_fails_the_task(reason: str, pod_phase: str) -> None:
    stuck = _pod("alice", pod_phase, **_waiting(reason, "back-off 5m0s"))
    status = _status(_task(["alice", "bob"]), {"alice": stuck, "bob": _pod("bob", "Running")})
    assert status["phase"] == "Failed"
    assert status["reason"] == "PodFailed"
    assert f"container main is waiting: {reason} (back-off 5m0s)" in status["message"]
    assert status["podStatuses"]["alice/t1-0"]["reason"] == reason


def test_a_failed_task_reports_its_pending_and_running_parties_and_pods_failed() -> None:
    failed = _pod("alice", "Failed", reason="Evicted")
    pods = {"alice": failed, "bob": _pod("bob", "Running"), "carol": _pod("carol")}
    status = _status(_task(["alice", "bob", "carol"]), pods)
    assert status["phase"] == "Failed"
    assert [p["phase"] for p in status["partyTaskStatus"]] == ["Failed"] * 3
    assert {k: v["podPhase"] for k, v in status["podStatuses"].items()} == {
        "alice/t1-0": "Failed",
        "bob/t1-0": "Failed",
        "carol/t1-0": "Failed",
    }


def test_a_succeeded_party_stays_succeeded_when_the_task_fails() -> None:
    pods = {
        "alice": _pod("alice", "Succeeded"),
        "bob": _pod("bob", "Failed"),
        "carol": _pod("carol", "Running"),
    }
    status = _status(_task(["alice", "bob", "carol"]), pods)
    assert [p["phase"] for p in status["partyTaskStatus"]] == ["Succeeded", "Failed", "Failed"]
    assert status["podStatuses"]["alice/t1-0"]["podPhase"] == "Succeeded"


def test_lifecycle_seconds_zero_means_the_default() -> None:
    created = datetime.fromisoformat(CREATED.replace("Z", "+00:00"))
    for schedule in ({}, {"lifecycleSeconds": 0}):
        deadline = task_status.lifecycle_deadline(_task(["alice"], **schedule), created)
        assert deadline == created.timestamp() + task_status.DEFAULT_LIFECYCLE_SECONDS


def test_min_reserved_pods_zero_means_every_replica() -> None:
    task = KusciaTask.model_validate(
        {
            "metadata": {"name": "t1", "namespace": "cross-domain", "uid": TASK_UID},
            "spec": {
                "initiator": "alice",
                "parties": [party("alice", minReservedPods=0, template={"replicas": 2})],
            },
        }
    )
    [result] = plan(task, {"img": IMAGE}, THREE).parties
    assert result.min_reserved_pods == 2
