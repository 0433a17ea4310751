"""The reservation on the real kube-scheduler with KWOK nodes sized for each case
(SPEC §6, Kuscia's TaskResourceGroup): every party fits; one never fits; capacity
appears during the wait; minReservedMembers 1 of 2; no pod bound before every
party's pods exist; a controller restart in the middle of a reservation.

Each test runs its task's pods on nodes of its own (a pool label its AppImage's
affinity requires), so the shared cluster's other nodes and tests never interfere.
Nothing here writes Pod status: the scheduler binds, KWOK's stages run the pods."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from devcluster.scheduled import KWOK_NODE_ANNOTATION, NOT_READY_TAINT
from reconciler.controller import Controller
from tests.reconciler.conftest import RunController, example, wait_for
from tests.reconciler.podlog import gated, pod_log, revision
from tests.scheduled.conftest import ScheduledHelpers

TASK = "secretflow-task-psi"
POD = "secretflow-task-psi-0"
POOL_LABEL = "kuscia-reconciler.test/pool"
NO_CPU = "Insufficient cpu"


class Pool:
    """KWOK nodes of one test, labelled with its pool; removed when the test ends."""

    def __init__(self, helpers: ScheduledHelpers) -> None:
        self.helpers = helpers
        self.name = f"p-{uuid.uuid4().hex[:8]}"
        self.nodes: list[str] = []

    def add(self, cpu: str) -> str:
        node = f"{self.name}-{len(self.nodes)}"
        capacity = {"cpu": cpu, "memory": "32Gi", "pods": "20"}
        self.helpers.kubectl(
            "create",
            "-f",
            "-",
            stdin=json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": node,
                        "annotations": {KWOK_NODE_ANNOTATION: "fake"},
                        "labels": {"kubernetes.io/hostname": node, POOL_LABEL: self.name},
                    },
                    "status": {"capacity": capacity, "allocatable": capacity},
                }
            ),
        )
        self.nodes.append(node)
        return node

    def ready(self) -> bool:
        for node in self.nodes:
            got = self.helpers.get("node", node) or {}
            conditions = (got.get("status") or {}).get("conditions") or []
            taints = (got.get("spec") or {}).get("taints") or []
            if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return False
            if any(t.get("key") == NOT_READY_TAINT for t in taints):
                return False
        return True

    def app_image(self) -> dict[str, Any]:
        """The PSI AppImage, named for this pool, its pods bound to the pool's nodes."""
        image = copy.deepcopy(example("secretflow-image.yaml"))
        image["metadata"]["name"] = f"img-{self.name}"
        required = {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": [self.name]}]}
            ]
        }
        for template in image["spec"]["deployTemplates"]:
            template["spec"]["affinity"] = {
                "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}
            }
        return image

    def remove(self) -> None:
        """Gone before the next test, which may count the cluster's nodes."""
        for node in self.nodes:
            self.helpers.kubectl("delete", "node", node, "--timeout=60s", check=False)


@pytest.fixture
def pool(scheduled: ScheduledHelpers) -> Iterator[Pool]:
    made = Pool(scheduled)
    yield made
    made.remove()


def _party(
    domain: str, *, cpu: str, env: dict[str, str] | None = None
) -> Callable[[dict[str, Any]], None]:
    """An edit for Cluster.task: `domain`'s pod requests `cpu` and gets `env`."""

    def edit(task: dict[str, Any]) -> None:
        for party in task["spec"]["parties"]:
            if party["domainID"] != domain:
                continue
            spec = party.setdefault("template", {}).setdefault("spec", {})
            container = spec.setdefault("containers", [{}])[0]
            container["resources"] = {"requests": {"cpu": cpu}}
            container.setdefault("env", []).extend(
                {"name": k, "value": v} for k, v in (env or {}).items()
            )

    return edit


def _edits(*edits: Callable[[dict[str, Any]], None], **schedule: int) -> Any:
    def edit(task: dict[str, Any]) -> None:
        task["spec"]["scheduleConfig"] = dict(schedule)
        for one in edits:
            one(task)

    return edit


def _status(helpers: ScheduledHelpers, namespace: str) -> dict[str, Any]:
    status: dict[str, Any] = (helpers.get("kusciatask", TASK, namespace) or {}).get("status") or {}
    return status


def _reservation(helpers: ScheduledHelpers, namespace: str) -> dict[str, Any]:
    reservation: dict[str, Any] = _status(helpers, namespace).get("reservation") or {}
    return reservation


def _reasons(helpers: ScheduledHelpers, namespace: str) -> list[str]:
    events = json.loads(helpers.kubectl("get", "events", "-n", namespace, "-o", "json"))
    return [e["reason"] for e in events["items"]]


async def _start(helpers: ScheduledHelpers, pool: Pool, *nodes_cpu: str) -> tuple[str, str, str]:
    """The pool's nodes (of these cpu sizes) Ready, the task's namespace and two parties."""
    for cpu in nodes_cpu:
        pool.add(cpu)
    await wait_for(pool.ready, within=60, interval=0.2)
    home = helpers.namespaces(1)[0]
    alice, bob = helpers.parties(2)
    helpers.kubectl_apply(pool.app_image())
    return home, alice, bob


def _selector() -> str:
    return f"kuscia.secretflow/task-id={TASK}"


async def test_every_party_fits_is_placed_at_the_first_attempt_and_runs(
    scheduled: ScheduledHelpers,
    run_scheduled_controller: RunController,
    pool: Pool,
    scheduled_api_client: client.ApiClient,
) -> None:
    await run_scheduled_controller()
    home, alice, bob = await _start(scheduled, pool, "4")
    task = scheduled.task(
        "secretflow-task-psi.yaml",
        home,
        [alice, bob],
        app_image=pool.app_image()["metadata"]["name"],
        edit=_edits(
            _party(alice, cpu="1", env={"DEVCLUSTER_RUN_FOR": "3s"}),
            _party(bob, cpu="1", env={"DEVCLUSTER_RUN_FOR": "3s"}),
            resourceReservedSeconds=20,
            retryIntervalSeconds=2,
            lifecycleSeconds=120,
        ),
    )
    async with pod_log(scheduled_api_client, _selector()) as log:
        scheduled.kubectl_apply(task)
        await wait_for(lambda: _reservation(scheduled, home).get("phase") == "Reserved", within=60)
        await wait_for(lambda: _status(scheduled, home).get("phase") == "Succeeded", within=60)
    reservation = _reservation(scheduled, home)
    assert reservation["attempts"] == 1
    for ns in (alice, bob):
        assert len(log.uids(ns)) == 1, f"{ns}: a pod was made more than once"
    bound = {
        p["spec"].get("nodeName") for _, p in log.pods_in((alice, bob)) if p["spec"].get("nodeName")
    }
    assert bound <= set(pool.nodes)
    conditions = {c["type"]: c for c in _status(scheduled, home)["conditions"]}
    assert conditions["ResourceReserved"]["status"] == "True"
    assert "ReserveFailed" not in _reasons(scheduled, home)


async def test_a_party_that_never_fits_fails_each_attempt_and_the_task_at_lifecycle(
    scheduled: ScheduledHelpers,
    run_scheduled_controller: RunController,
    pool: Pool,
    scheduled_api_client: client.ApiClient,
) -> None:
    await run_scheduled_controller()
    home, alice, bob = await _start(scheduled, pool, "4")
    task = scheduled.task(
        "secretflow-task-psi.yaml",
        home,
        [alice, bob],
        app_image=pool.app_image()["metadata"]["name"],
        edit=_edits(
            _party(alice, cpu="1", env={"DEVCLUSTER_OUTCOME": "Running"}),
            _party(bob, cpu="16"),
            resourceReservedSeconds=4,
            retryIntervalSeconds=3,
            lifecycleSeconds=24,
        ),
    )
    async with pod_log(scheduled_api_client, _selector()) as log:
        scheduled.kubectl_apply(task)

        def alice_bound() -> bool:
            return any(p["spec"].get("nodeName") for _, p in log.pods_in((alice,)))

        await wait_for(alice_bound, within=30, interval=0.1)
        await wait_for(
            lambda: _reservation(scheduled, home).get("phase") == "ReserveFailed", within=30
        )
        failed = _status(scheduled, home)
        unplaced = failed["reservation"]["unplacedParties"]
        assert [p["domainID"] for p in unplaced] == [bob]
        assert unplaced[0]["reason"] == "Unschedulable"
        assert NO_CPU in unplaced[0]["message"]
        assert f"domain [{bob}] can not reserve resources for pods" in failed["message"]
        assert NO_CPU in failed["message"]
        # alice fitted, yet her pod is gone too: nothing holds resources while waiting.
        await wait_for(lambda: not scheduled.list("pods", alice, _selector()), within=30)
        # The retry: made again (held, released), counted.
        await wait_for(lambda: len(log.uids(alice)) >= 2, within=30, interval=0.1)
        await wait_for(lambda: _reservation(scheduled, home).get("attempts", 0) >= 2)
        await wait_for(lambda: _status(scheduled, home).get("phase") == "Failed", within=60)
    status = _status(scheduled, home)
    assert status["reason"] == "LifecycleExpired"
    attempts = status["reservation"]["attempts"]
    assert attempts >= 2
    assert len(log.uids(alice)) == attempts
    assert f"{attempts} reservation attempts" in status["message"]
    assert "not scheduled within 24 seconds" in status["message"]
    # The Event follows the status write that records the failure.
    await wait_for(lambda: "LifecycleExpired" in _reasons(scheduled, home))
    assert _reasons(scheduled, home).count("ReserveFailed") >= 1
    # Every attempt's pods were made behind the gate.
    assert all(gated(p) for k, p in log.pods_in((alice, bob)) if k == "ADDED")


async def test_capacity_that_appears_during_the_wait_lets_the_next_attempt_succeed(
    scheduled: ScheduledHelpers, run_scheduled_controller: RunController, pool: Pool
) -> None:
    await run_scheduled_controller()
    home, alice, bob = await _start(scheduled, pool, "4")
    task = scheduled.task(
        "secretflow-task-psi.yaml",
        home,
        [alice, bob],
        app_image=pool.app_image()["metadata"]["name"],
        edit=_edits(
            _party(alice, cpu="1", env={"DEVCLUSTER_RUN_FOR": "2s"}),
            _party(bob, cpu="6", env={"DEVCLUSTER_RUN_FOR": "2s"}),
            resourceReservedSeconds=4,
            retryIntervalSeconds=4,
            lifecycleSeconds=120,
        ),
    )
    scheduled.kubectl_apply(task)
    await wait_for(lambda: _reservation(scheduled, home).get("phase") == "ReserveFailed", within=30)
    pool.add("8")  # a bigger node, while the task waits to try again
    await wait_for(pool.ready, within=60, interval=0.2)
    await wait_for(lambda: _reservation(scheduled, home).get("phase") == "Reserved", within=60)
    assert _reservation(scheduled, home)["attempts"] == 2
    await wait_for(lambda: _status(scheduled, home).get("phase") == "Succeeded", within=60)
    status = _status(scheduled, home)
    assert {p["domainID"]: p["phase"] for p in status["partyTaskStatus"]} == {
        alice: "Succeeded",
        bob: "Succeeded",
    }


async def test_min_reserved_members_one_of_two_runs_with_alice(
    scheduled: ScheduledHelpers, run_scheduled_controller: RunController, pool: Pool
) -> None:
    await run_scheduled_controller()
    home, alice, bob = await _start(scheduled, pool, "4")
    task = scheduled.task(
        "secretflow-task-psi.yaml",
        home,
        [alice, bob],
        app_image=pool.app_image()["metadata"]["name"],
        edit=_edits(
            _party(alice, cpu="1", env={"DEVCLUSTER_OUTCOME": "Running"}),
            _party(bob, cpu="16"),
            minReservedMembers=1,
            resourceReservedSeconds=4,
            retryIntervalSeconds=2,
            lifecycleSeconds=120,
        ),
    )
    scheduled.kubectl_apply(task)
    await wait_for(lambda: _status(scheduled, home).get("phase") == "Running", within=60)
    reservation = _reservation(scheduled, home)
    assert reservation["phase"] == "Reserved"
    assert reservation["attempts"] == 1
    pod = scheduled.get("pod", POD, alice)
    assert pod is not None
    assert pod["spec"]["nodeName"] in pool.nodes
    assert pod["status"]["phase"] == "Running"
    # bob's pod stays, unscheduled, past resourceReservedSeconds: the reservation holds.
    bobs = scheduled.get("pod", POD, bob)
    assert bobs is not None
    assert not bobs["spec"].get("nodeName")
    assert "ReserveFailed" not in _reasons(scheduled, home)


async def test_no_pod_is_bound_before_every_local_party_has_its_pods(
    scheduled: ScheduledHelpers,
    run_scheduled_controller: RunController,
    pool: Pool,
    scheduled_api_client: client.ApiClient,
) -> None:
    await run_scheduled_controller()
    home, alice, bob = await _start(scheduled, pool, "4")
    task = scheduled.task(
        "secretflow-task-psi.yaml",
        home,
        [alice, bob],
        app_image=pool.app_image()["metadata"]["name"],
        edit=_edits(
            _party(alice, cpu="1", env={"DEVCLUSTER_OUTCOME": "Running"}),
            _party(bob, cpu="1", env={"DEVCLUSTER_OUTCOME": "Running"}),
            resourceReservedSeconds=20,
            lifecycleSeconds=120,
        ),
    )
    async with pod_log(scheduled_api_client, _selector()) as log:
        scheduled.kubectl_apply(task)
        await wait_for(lambda: _status(scheduled, home).get("phase") == "Running", within=60)

        def both_bound() -> bool:
            return all(
                any(p["spec"].get("nodeName") for _, p in log.pods_in((ns,))) for ns in (alice, bob)
            )

        await wait_for(both_bound, within=30, interval=0.1)
    events = log.pods_in((alice, bob))
    made = [revision(p) for kind, p in events if kind == "ADDED"]
    released = [revision(p) for _, p in events if not gated(p)]
    bound = [revision(p) for _, p in events if p["spec"].get("nodeName")]
    assert len(made) == 2
    # One order for both namespaces (etcd's revisions): both made, then every gate off,
    # then the first binding.
    assert max(made) < min(released) <= min(bound)
    # And in the pods' own times: each was scheduled no earlier than the last was made.
    pods = [scheduled.get("pod", POD, ns) for ns in (alice, bob)]
    created = max(p["metadata"]["creationTimestamp"] for p in pods if p)
    for pod in pods:
        assert pod is not None
        scheduled_at = next(
            c["lastTransitionTime"]
            for c in pod["status"]["conditions"]
            if c["type"] == "PodScheduled" and c["status"] == "True"
        )
        assert scheduled_at >= created


async def test_a_restart_in_the_middle_of_a_reservation_keeps_its_attempt_and_pods(
    scheduled: ScheduledHelpers,
    run_scheduled_controller: RunController,
    pool: Pool,
    scheduled_api_client: client.ApiClient,
) -> None:
    first: Controller = await run_scheduled_controller()
    home, alice, bob = await _start(scheduled, pool, "4")
    task = scheduled.task(
        "secretflow-task-psi.yaml",
        home,
        [alice, bob],
        app_image=pool.app_image()["metadata"]["name"],
        edit=_edits(
            _party(alice, cpu="1", env={"DEVCLUSTER_OUTCOME": "Running"}),
            _party(bob, cpu="16"),
            resourceReservedSeconds=10,
            retryIntervalSeconds=2,
            lifecycleSeconds=120,
        ),
    )
    async with pod_log(scheduled_api_client, _selector()) as log:
        scheduled.kubectl_apply(task)
        await wait_for(
            lambda: any(p["spec"].get("nodeName") for _, p in log.pods_in((alice,))),
            within=30,
            interval=0.1,
        )
        held = _reservation(scheduled, home)
        assert held["phase"] == "Reserving"
        await first.stop()
        await run_scheduled_controller()
        await wait_for(
            lambda: _reservation(scheduled, home).get("phase") == "ReserveFailed", within=30
        )
        failed = _reservation(scheduled, home)
        # The same attempt, its deadline kept: failed no sooner than the first one set.
        assert failed["attempts"] == 1
        assert failed["releaseTime"] == held["releaseTime"]
        assert len(log.uids(alice)) == 1, "the restart made alice's pod again"
        await wait_for(lambda: _reservation(scheduled, home).get("attempts") == 2, within=30)
    # Never two pods of a party at once.
    live: dict[str, set[str]] = {alice: set(), bob: set()}
    for kind, pod in log.pods_in((alice, bob)):
        uids = live[pod["metadata"]["namespace"]]
        if kind == "DELETED":
            uids.discard(pod["metadata"]["uid"])
        else:
            uids.add(pod["metadata"]["uid"])
        assert len(uids) <= 1, "two pods of one party at once"
