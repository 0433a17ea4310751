"""The reservation on the bare control plane (no scheduler, no nodes, so no pod is
ever bound): pods made behind their scheduling gate and released together, a
party whose objects cannot be made keeping every pod gated, attempts that fail,
are retried and run out with lifecycleSeconds, and a restart in the middle of one."""

from __future__ import annotations

import json
from typing import Any

from kubernetes_asyncio import client

from reconciler.controller import Controller
from tests.reconciler.conftest import Cluster, RunController, example, wait_for
from tests.reconciler.podlog import gated, pod_log, revision

DOMAIN = {"kuscia.secretflow/domain": "true"}
TASK = "secretflow-task-psi"
POD = "secretflow-task-psi-0"


def _status(cluster: Cluster, namespace: str) -> dict[str, Any]:
    task = cluster.get("kusciatask", TASK, namespace) or {}
    status: dict[str, Any] = task.get("status") or {}
    return status


def _reservation(cluster: Cluster, namespace: str) -> dict[str, Any]:
    reservation: dict[str, Any] = _status(cluster, namespace).get("reservation") or {}
    return reservation


async def test_pods_are_made_gated_and_released_together_once_every_party_has_its_objects(
    cluster: Cluster, run_controller: RunController, api_client: client.ApiClient
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3, labels=DOMAIN)
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    task = cluster.task("secretflow-task-psi.yaml", home, [alice, bob])
    async with pod_log(api_client, f"kuscia.secretflow/task-id={TASK}") as log:
        cluster.kubectl_apply(task)

        def released() -> bool:
            pods = [cluster.get("pod", POD, ns) for ns in (alice, bob)]
            return all(p is not None and not gated(p) for p in pods)

        await wait_for(released, within=30)
        await wait_for(lambda: len([e for e in log.events if not gated(e[1])]) >= 2)
    ours = [(kind, pod) for kind, pod in log.events if pod["metadata"]["namespace"] in (alice, bob)]
    added = [pod for kind, pod in ours if kind == "ADDED"]
    assert {p["metadata"]["namespace"] for p in added} == {alice, bob}
    assert all(gated(p) for p in added), "a pod was made without its gate"
    first_free: dict[str, int] = {}
    for _, pod in ours:
        if not gated(pod):
            first_free.setdefault(pod["metadata"]["namespace"], revision(pod))
    # resourceVersions are etcd's revisions, one order for every namespace: every
    # gate came off after the last pod of every party was made.
    assert min(first_free.values()) > max(revision(p) for p in added)
    status = _status(cluster, home)
    assert status["reservation"]["phase"] == "Reserving"
    assert status["reservation"]["attempts"] == 1
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["ResourceReserved"]["status"] == "False"
    assert conditions["ResourceReserved"]["reason"] == "Reserving"


async def test_a_party_whose_objects_cannot_be_made_leaves_the_others_gated(
    cluster: Cluster, run_controller: RunController, api_client: client.ApiClient
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3, labels=DOMAIN)
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    # Someone else's ConfigMap holds the name (and the key) bob's pod needs: bob's
    # objects cannot all be made, so alice's pod must never be released.
    cluster.kubectl_apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{POD}-config", "namespace": bob},
            "data": {"task-config.conf": "someone else's"},
        }
    )
    async with pod_log(api_client, f"kuscia.secretflow/task-id={TASK}") as log:
        cluster.kubectl_apply(cluster.task("secretflow-task-psi.yaml", home, [alice, bob]))
        await wait_for(lambda: _status(cluster, home).get("phase") == "Failed", within=30)
        assert _status(cluster, home)["reason"] == "NameConflict"
        # Finished: its pods are removed; wait for that so the log has all of alice's.
        await wait_for(lambda: cluster.get("pod", POD, alice) is None)
        await wait_for(lambda: any(k == "DELETED" for k, _ in log.events))
    alices = [pod for _, pod in log.events if pod["metadata"]["namespace"] == alice]
    assert alices, "alice's pod was never made"
    assert all(gated(pod) for pod in alices), "alice's pod was released"


def _short(schedule: dict[str, int]) -> Any:
    def edit(task: dict[str, Any]) -> None:
        task["spec"]["scheduleConfig"] = dict(schedule)

    return edit


async def test_unplaced_pods_are_removed_made_again_and_the_task_fails_at_lifecycle(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3, labels=DOMAIN)
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    schedule = {"resourceReservedSeconds": 2, "retryIntervalSeconds": 2, "lifecycleSeconds": 14}
    cluster.kubectl_apply(
        cluster.task("secretflow-task-psi.yaml", home, [alice, bob], edit=_short(schedule))
    )
    await wait_for(lambda: cluster.get("pod", POD, alice), within=30)
    first_uid = cluster.get("pod", POD, alice)["metadata"]["uid"]  # type: ignore[index]
    await wait_for(lambda: _reservation(cluster, home).get("phase") == "ReserveFailed", within=30)
    failed = _status(cluster, home)
    assert [p["domainID"] for p in failed["reservation"]["unplacedParties"]] == [alice, bob]
    assert f"domain [{alice},{bob}] can not reserve resources for pods" in failed["message"]
    await wait_for(lambda: cluster.get("pod", POD, alice) is None)  # nothing holds resources
    assert failed["phase"] == "Pending"

    def made_again() -> bool:
        pod = cluster.get("pod", POD, alice)
        return pod is not None and pod["metadata"]["uid"] != first_uid

    await wait_for(made_again, within=30)
    await wait_for(lambda: _reservation(cluster, home).get("attempts", 0) >= 2)
    await wait_for(lambda: _status(cluster, home).get("phase") == "Failed", within=40)
    status = _status(cluster, home)
    assert status["reason"] == "LifecycleExpired"
    attempts = status["reservation"]["attempts"]
    assert attempts >= 2
    assert f"{attempts} reservation attempts" in status["message"]
    assert "not scheduled within 14 seconds" in status["message"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["ResourceReserved"]["reason"] == "LifecycleExpired"

    def reasons() -> list[str]:
        events = json.loads(cluster.kubectl("get", "events", "-n", home, "-o", "json"))
        return [e["reason"] for e in events["items"]]

    # The Event follows the status write that records the failure.
    await wait_for(lambda: "LifecycleExpired" in reasons())
    assert "ReserveFailed" in reasons()
    for ns in (alice, bob):
        await wait_for(lambda ns=ns: cluster.get("pod", POD, ns) is None)


async def test_a_restart_in_the_middle_of_a_reservation_loses_nothing(
    cluster: Cluster, run_controller: RunController
) -> None:
    first: Controller = await run_controller()
    home, alice, bob = cluster.namespaces(3, labels=DOMAIN)
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    schedule = {"resourceReservedSeconds": 6, "retryIntervalSeconds": 2, "lifecycleSeconds": 120}
    cluster.kubectl_apply(
        cluster.task("secretflow-task-psi.yaml", home, [alice, bob], edit=_short(schedule))
    )
    await wait_for(lambda: _reservation(cluster, home).get("phase") == "Reserving", within=30)
    await wait_for(lambda: not gated(cluster.get("pod", POD, bob) or {"spec": {}}))
    held = _reservation(cluster, home)
    uids = {ns: cluster.get("pod", POD, ns)["metadata"]["uid"] for ns in (alice, bob)}  # type: ignore[index]
    await first.stop()
    await run_controller()
    # The same attempt goes on: same pods, same deadline, then it fails and the count
    # carries on from it.
    await wait_for(lambda: _reservation(cluster, home).get("phase") == "ReserveFailed", within=30)
    failed = _reservation(cluster, home)
    assert failed["attempts"] == held["attempts"] == 1
    assert failed["releaseTime"] == held["releaseTime"]
    await wait_for(lambda: _reservation(cluster, home).get("attempts") == 2, within=30)
    for ns in (alice, bob):
        pods = cluster.list("pods", ns, f"kuscia.secretflow/task-id={TASK}")
        assert len(pods) <= 1
    # Stopped while the second attempt waits: the next controller keeps its count.
    await wait_for(lambda: _reservation(cluster, home).get("phase") == "Reserving", within=30)
    second = _reservation(cluster, home)
    assert second["releaseTime"] != held["releaseTime"]
    assert uids[alice] != (cluster.get("pod", POD, alice) or {}).get("metadata", {}).get("uid")
