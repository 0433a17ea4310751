"""The status rules, one table of cases per rule: a party's verdict from its pods
(party_verdicts), the task's from its parties' (task_verdict), and the whole status
(desired_status) for a plan that could not be built, a plan not yet applied, a
finished task, an expired lifecycle, and the time stamps that must not move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from builders import BuildError, Cluster, Plan, plan
from builders.models import KusciaTask
from reconciler import task_status
from reconciler.task_status import FAILED, PENDING, RUNNING, SUCCEEDED, Observed, Verdict
from tests.builders.examples import TASK_UID, make_app_image, party

CREATED = datetime(2026, 1, 2, 3, 0, 0, tzinfo=UTC)
NOW = CREATED + timedelta(seconds=10)
IMAGE = make_app_image([{"name": "main", "ports": [{"name": "fed", "scope": "Cluster"}]}])
CLUSTER = Cluster.of({"alice", "bob"}, partners={"carol"})


def _task(
    domains: list[str], *, schedule: dict[str, int] | None = None, **extra: Any
) -> KusciaTask:
    return KusciaTask.model_validate(
        {
            "metadata": {
                "name": "t1",
                "namespace": "cross-domain",
                "uid": TASK_UID,
                "creationTimestamp": task_status.timestamp(CREATED),
            },
            "spec": {
                "initiator": domains[0],
                "scheduleConfig": schedule or {},
                "parties": [party(domain, **extra) for domain in domains],
            },
        }
    )


def _plan(task: KusciaTask) -> Plan:
    return plan(task, {"img": IMAGE}, CLUSTER)


def _pod(domain: str, pod_phase: str | None, index: int = 0, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": f"t1-{index}", "namespace": domain},
        "status": {"phase": pod_phase, **status} if pod_phase else status,
    }


def _stuck(reason: str) -> dict[str, Any]:
    state = {"waiting": {"reason": reason}}
    return {"containerStatuses": [{"name": "main", "state": state}]}


def _observed(*pods: dict[str, Any]) -> Observed:
    return Observed(
        pods={f"{p['metadata']['namespace']}/{p['metadata']['name']}": p for p in pods},
        services={},
    )


# --- party_verdicts: one party's phase from its pods ------------------------------------


@pytest.mark.parametrize(
    ("pods", "seen_before", "replicas", "min_reserved", "expected"),
    [
        ([], {}, 1, None, (PENDING, "")),  # no pod seen yet: waiting for it
        ([("Pending", {})], {}, 1, None, (PENDING, "")),
        ([(None, {})], {}, 1, None, (PENDING, "")),  # no phase yet counts as Pending
        ([("Running", {})], {}, 1, None, (RUNNING, "")),
        ([("Succeeded", {})], {}, 1, None, (SUCCEEDED, "")),
        ([("Failed", {})], {}, 1, None, (FAILED, "PodFailed")),
        ([("Pending", _stuck("ImagePullBackOff"))], {}, 1, None, (FAILED, "PodFailed")),
        ([("Running", _stuck("CrashLoopBackOff"))], {}, 1, None, (FAILED, "PodFailed")),
        ([("Pending", _stuck("ContainerCreating"))], {}, 1, None, (PENDING, "")),
        ([], {"alice/t1-0": {}}, 1, None, (FAILED, "PodNotFound")),  # seen, now gone
        # Two replicas, one may fail (minReservedPods 1) and one success is enough.
        ([("Failed", {}), ("Running", {})], {}, 2, 1, (RUNNING, "")),
        ([("Failed", {}), ("Succeeded", {})], {}, 2, 1, (SUCCEEDED, "")),
        ([("Failed", {}), ("Failed", {})], {}, 2, 1, (FAILED, "PodFailed")),
        # Two replicas, both reserved: one failure fails the party, one success is not enough.
        ([("Failed", {}), ("Running", {})], {}, 2, None, (FAILED, "PodFailed")),
        ([("Succeeded", {}), ("Running", {})], {}, 2, None, (RUNNING, "")),
    ],
)
def test_a_partys_verdict_follows_its_pods(
    pods: list[tuple[str | None, dict[str, Any]]],
    seen_before: dict[str, Any],
    replicas: int,
    min_reserved: int | None,
    expected: tuple[str, str],
) -> None:
    extra: dict[str, Any] = {"template": {"replicas": replicas}}
    if min_reserved is not None:
        extra["minReservedPods"] = min_reserved
    result = _plan(_task(["alice"], **extra))
    observed = _observed(*(_pod("alice", p, i, **s) for i, (p, s) in enumerate(pods)))
    [verdict] = task_status.party_verdicts(result, observed, seen_before)
    assert (verdict.phase, verdict.reason) == expected


def test_a_partner_domains_party_is_reported_not_judged() -> None:
    result = _plan(_task(["alice", "carol"]))
    verdicts = task_status.party_verdicts(result, _observed(_pod("alice", "Running")), {})
    assert [v.phase for v in verdicts] == [RUNNING, ""]
    assert "partner domain" in verdicts[1].message


# --- task_verdict: the task's phase from its parties' -----------------------------------


def _verdicts(*phases: str) -> list[Verdict]:
    return [
        Verdict(p, "PodFailed" if p == FAILED else "", f"party {i}") for i, p in enumerate(phases)
    ]


@pytest.mark.parametrize(
    ("parties", "min_reserved_members", "expected"),
    [
        ((PENDING, PENDING), None, (PENDING, "")),
        ((RUNNING, PENDING), None, (RUNNING, "")),
        ((SUCCEEDED, PENDING), None, (RUNNING, "")),  # a finished party means it is moving
        ((SUCCEEDED, SUCCEEDED), None, (SUCCEEDED, "TaskSucceeded")),
        ((SUCCEEDED, RUNNING), None, (RUNNING, "")),  # every party must succeed by default
        ((SUCCEEDED, RUNNING), 0, (RUNNING, "")),  # 0 means every party too
        ((SUCCEEDED, RUNNING), 1, (SUCCEEDED, "TaskSucceeded")),
        ((FAILED, RUNNING), None, (FAILED, "PodFailed")),
        ((FAILED, RUNNING), 1, (RUNNING, "")),  # one party may fail
        ((FAILED, SUCCEEDED), 1, (SUCCEEDED, "TaskSucceeded")),
        ((FAILED, FAILED), 1, (FAILED, "PodFailed")),
        ((SUCCEEDED, ""), None, (SUCCEEDED, "TaskSucceeded")),  # partner parties not counted
        (("", ""), None, (RUNNING, "")),  # every party elsewhere: nothing to judge here
        ((SUCCEEDED, RUNNING), 5, (RUNNING, "")),  # more than there are: all of them
    ],
)
def test_a_tasks_verdict_follows_its_parties(
    parties: tuple[str, ...], min_reserved_members: int | None, expected: tuple[str, str]
) -> None:
    schedule = {} if min_reserved_members is None else {"minReservedMembers": min_reserved_members}
    task = _task(["alice", "bob"], schedule=schedule)
    verdict = task_status.task_verdict(task, _verdicts(*parties))
    assert (verdict.phase, verdict.reason) == expected


def test_a_failed_task_reports_its_first_failed_partys_message() -> None:
    verdict = task_status.task_verdict(_task(["alice", "bob"]), _verdicts(RUNNING, FAILED))
    assert verdict.message == "party 1"


# --- desired_status: the whole status ---------------------------------------------------


def _conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason", "")) for c in status["conditions"]}


@pytest.mark.parametrize(
    ("error", "now", "expected"),
    [
        # Waiting for an AppImage or namespace: Pending with the reason, until the lifecycle ends.
        (BuildError("AppImageNotFound", "no img"), NOW, (PENDING, "AppImageNotFound")),
        (BuildError("NamespaceNotFound", "no bob"), NOW, (PENDING, "NamespaceNotFound")),
        (
            BuildError("AppImageNotFound", "no img"),
            CREATED + timedelta(seconds=task_status.DEFAULT_LIFECYCLE_SECONDS),
            (FAILED, "LifecycleExpired"),
        ),
        # Anything else is never going to work: Failed at once, with its own reason.
        (BuildError("DuplicateParty", "twice"), NOW, (FAILED, "DuplicateParty")),
        (BuildError("NameConflict", "not ours", waiting=False), NOW, (FAILED, "NameConflict")),
    ],
)
def test_a_task_that_cannot_be_built_waits_or_fails_by_its_reason(
    error: BuildError, now: datetime, expected: tuple[str, str]
) -> None:
    status = task_status.desired_status(
        _task(["alice", "bob"]), {}, error, _observed(), now, all_objects_exist=False
    )
    assert (status["phase"], status["reason"]) == expected
    assert _conditions(status)["ResourceCreated"] == ("False", error.reason)
    assert [p["phase"] for p in status["partyTaskStatus"]] == [expected[0]] * 2
    if expected[0] == FAILED:
        assert status["completionTime"] == task_status.timestamp(now)
    else:
        assert "completionTime" not in status


@pytest.mark.parametrize(
    ("all_objects_exist", "pods", "now", "expected_phase", "expected_conditions"),
    [
        (
            False,
            [],
            NOW,
            PENDING,
            {"PortsAllocated": ("True", ""), "ResourceCreated": ("False", "Creating")},
        ),
        (True, [], NOW, PENDING, {"PortsAllocated": ("True", ""), "ResourceCreated": ("True", "")}),
        (
            True,
            [("alice", "Running")],
            NOW,
            RUNNING,
            {
                "PortsAllocated": ("True", ""),
                "ResourceCreated": ("True", ""),
                "Running": ("True", ""),
            },
        ),
        (
            True,
            [("alice", "Succeeded"), ("bob", "Succeeded")],
            NOW,
            SUCCEEDED,
            {
                "PortsAllocated": ("True", ""),
                "ResourceCreated": ("True", ""),
                "Running": ("True", ""),
                "Success": ("True", "TaskSucceeded"),
            },
        ),
        (
            True,
            [("alice", "Failed")],
            NOW,
            FAILED,
            {
                "PortsAllocated": ("True", ""),
                "ResourceCreated": ("True", ""),
                "Running": ("True", ""),
                "Success": ("False", "PodFailed"),
            },
        ),
        (
            True,
            [],
            CREATED + timedelta(seconds=task_status.DEFAULT_LIFECYCLE_SECONDS),
            FAILED,
            {
                "PortsAllocated": ("True", ""),
                "ResourceCreated": ("True", ""),
                # As the code has it: a failed verdict sets Running, started or not.
                "Running": ("True", ""),
                "Success": ("False", "LifecycleExpired"),
            },
        ),
    ],
)
def test_a_built_tasks_phase_and_conditions_follow_its_objects_and_pods(
    all_objects_exist: bool,
    pods: list[tuple[str, str]],
    now: datetime,
    expected_phase: str,
    expected_conditions: dict[str, tuple[str, str]],
) -> None:
    task = _task(["alice", "bob"])
    observed = _observed(*(_pod(domain, p) for domain, p in pods))
    status = task_status.desired_status(
        task, {}, _plan(task), observed, now, all_objects_exist=all_objects_exist
    )
    assert status["phase"] == expected_phase
    assert _conditions(status) == expected_conditions
    assert status["startTime"] == task_status.timestamp(now)
    assert status["lastReconcileTime"] == task_status.timestamp(now)


def test_a_finished_task_keeps_its_status_whatever_its_pods_do() -> None:
    task = _task(["alice", "bob"])
    old = {"phase": SUCCEEDED, "reason": "TaskSucceeded", "completionTime": "x"}
    observed = _observed(_pod("alice", "Failed"))
    assert (
        task_status.desired_status(task, old, _plan(task), observed, NOW, all_objects_exist=True)
        == old
    )


def test_an_unchanged_situation_gives_the_same_status_with_no_time_moved() -> None:
    task = _task(["alice", "bob"])
    observed = _observed(_pod("alice", "Running"))
    first = task_status.desired_status(task, {}, _plan(task), observed, NOW, all_objects_exist=True)
    later = NOW + timedelta(seconds=30)
    again = task_status.desired_status(
        task, first, _plan(task), observed, later, all_objects_exist=True
    )
    assert again == first  # lastReconcileTime included: no write


def test_a_condition_keeps_its_transition_time_until_its_status_flips() -> None:
    task = _task(["alice", "bob"])
    pending = task_status.desired_status(
        task, {}, _plan(task), _observed(), NOW, all_objects_exist=True
    )
    later = NOW + timedelta(seconds=30)
    running = task_status.desired_status(
        task,
        pending,
        _plan(task),
        _observed(_pod("alice", "Running")),
        later,
        all_objects_exist=True,
    )
    times = {c["type"]: c["lastTransitionTime"] for c in running["conditions"]}
    assert times["ResourceCreated"] == task_status.timestamp(NOW)
    assert times["Running"] == task_status.timestamp(later)
    assert running["startTime"] == pending["startTime"]


@pytest.mark.parametrize(
    ("old", "new", "same"),
    [
        ({"phase": RUNNING}, {"phase": RUNNING}, True),
        (
            {"phase": RUNNING, "lastReconcileTime": "a"},
            {"phase": RUNNING, "lastReconcileTime": "b"},
            True,
        ),
        ({"phase": RUNNING}, {"phase": SUCCEEDED}, False),
        ({"phase": RUNNING}, {"phase": RUNNING, "message": "m"}, False),
    ],
)
def test_statuses_are_the_same_but_for_last_reconcile_time(
    old: dict[str, Any], new: dict[str, Any], same: bool
) -> None:
    assert task_status.same_status(old, new) is same


@pytest.mark.parametrize(
    ("conditions", "created"),
    [
        ([], False),
        ([{"type": "ResourceCreated", "status": "False"}], False),
        ([{"type": "Running", "status": "True"}], False),
        ([{"type": "ResourceCreated", "status": "True"}], True),
    ],
)
def test_resources_created_reads_the_stored_condition(
    conditions: list[dict[str, str]], created: bool
) -> None:
    assert task_status.resources_created({"conditions": conditions}) is created
