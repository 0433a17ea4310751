"""Deleting a task removes what it made in every namespace before the task
itself goes (a finalizer; owner references cannot cross namespaces)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.reconciler.conftest import Cluster, RunController, example, wait_for

KINDS = ("pods", "services", "configmaps", "networkpolicies")


async def test_deleting_a_task_removes_every_object_it_made_then_the_task(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    cluster.kubectl_apply(cluster.task("secretflow-task-psi.yaml", home, [alice, bob]))
    await wait_for(lambda: cluster.get("pod", "secretflow-task-psi-0", bob))
    task = cluster.get("kusciatask", "secretflow-task-psi", home)
    assert task is not None
    assert task["metadata"]["finalizers"] == ["kuscia.secretflow/kusciatask-cleanup"]
    selector = f"kuscia.secretflow/task-uid={task['metadata']['uid']}"

    cluster.kubectl("delete", "kusciatask", "secretflow-task-psi", "-n", home, "--wait=false")
    await wait_for(lambda: cluster.get("kusciatask", "secretflow-task-psi", home) is None)
    for ns in (alice, bob):
        for kind in KINDS:
            assert cluster.list(kind, ns, selector) == [], (ns, kind)


async def test_a_task_deleted_while_the_controller_is_down_is_cleaned_up_on_start(
    cluster: Cluster, run_controller: RunController
) -> None:
    first = await run_controller()
    home, alice, bob = cluster.namespaces(3)
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    cluster.kubectl_apply(cluster.task("secretflow-task-psi.yaml", home, [alice, bob]))
    await wait_for(lambda: cluster.get("pod", "secretflow-task-psi-0", bob))
    await first.stop()
    cluster.kubectl("delete", "kusciatask", "secretflow-task-psi", "-n", home, "--wait=false")
    assert cluster.get("kusciatask", "secretflow-task-psi", home) is not None  # held by us
    await run_controller()
    await wait_for(lambda: cluster.get("kusciatask", "secretflow-task-psi", home) is None)
    assert cluster.list("pods", bob, "kuscia.secretflow/task-id=secretflow-task-psi") == []


async def test_a_task_deleted_before_its_objects_reach_the_caches_leaves_none_behind(
    cluster: Cluster, run_controller: RunController, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Watches of different kinds are separate streams: a task's deletion can arrive
    # before the events of the objects applied for it a moment earlier.
    controller = await run_controller()
    held: list[Callable[[], None]] = []
    for informer in controller.caches.children.values():
        for method in ("upsert", "remove"):
            deliver = getattr(informer, method)
            monkeypatch.setattr(
                informer, method, lambda obj, deliver=deliver: held.append(lambda: deliver(obj))
            )
    home, alice, bob = cluster.namespaces(3)
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    cluster.kubectl_apply(cluster.task("secretflow-task-psi.yaml", home, [alice, bob]))
    await wait_for(lambda: cluster.objects_created(home, "secretflow-task-psi"))
    task = cluster.get("kusciatask", "secretflow-task-psi", home)
    assert task is not None
    uid = task["metadata"]["uid"]
    assert not any(controller.caches.children_of(uid).values())  # nothing seen yet

    cluster.kubectl("delete", "kusciatask", "secretflow-task-psi", "-n", home, "--wait=false")
    await wait_for(lambda: cluster.get("kusciatask", "secretflow-task-psi", home) is None)
    for ns in (alice, bob):
        for kind in KINDS:
            assert cluster.list(kind, ns, f"kuscia.secretflow/task-uid={uid}") == [], (ns, kind)
    monkeypatch.undo()
    for deliver in held:
        deliver()
