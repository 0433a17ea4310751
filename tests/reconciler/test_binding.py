"""Binding a task to its AppImages (SPEC §2): waiting for what is missing,
the lifecycle deadline, and AppImage edits against running tasks."""

from __future__ import annotations

import time
from typing import Any

from reconciler.kube import POD, ApiError
from tests.reconciler.conftest import Cluster, RunController, example, wait_for


def _status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    task = cluster.get("kusciatask", name, namespace) or {}
    status: dict[str, Any] = task.get("status") or {}
    return status


def _renamed_image(name: str) -> dict[str, Any]:
    image = example("secretflow-image.yaml")
    image["metadata"]["name"] = name
    return image


async def test_missing_appimage_waits_then_binds_within_a_second(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)
    image = f"img-{home}"
    cluster.kubectl_apply(
        cluster.task("secretflow-task-psi.yaml", home, [alice, bob], app_image=image)
    )
    status = await wait_for(
        lambda: (s := _status(cluster, home, "secretflow-task-psi")).get("reason") and s
    )
    assert status["phase"] == "Pending"
    assert status["reason"] == "AppImageNotFound"
    assert image in status["message"]

    async def pod_made() -> bool:
        try:
            await cluster.kube.request("GET", POD.path(bob, "secretflow-task-psi-0"))
        except ApiError as error:
            if error.not_found:
                return False
            raise
        return True

    # Timed with direct requests, not kubectl, whose process start-up would be most
    # of what is measured on a busy machine.
    created = time.monotonic()
    await cluster.kube.apply(_renamed_image(image), field_manager="test")
    await wait_for(pod_made, interval=0.02)
    assert time.monotonic() - created < 1.5
    status = await wait_for(
        lambda: (s := _status(cluster, home, "secretflow-task-psi")).get("reason") is None and s
    )
    assert status["phase"] == "Pending"
    assert status["boundAppImages"][0]["appImageRef"] == image


async def test_missing_namespace_waits_then_binds(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    (home, alice) = cluster.namespaces(2)
    bob = f"late-{home}"
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    cluster.kubectl_apply(cluster.task("secretflow-task-psi.yaml", home, [alice, bob]))
    status = await wait_for(
        lambda: (s := _status(cluster, home, "secretflow-task-psi")).get("reason") and s
    )
    assert status["reason"] == "NamespaceNotFound"
    assert bob in status["message"]
    assert cluster.get("pod", "secretflow-task-psi-0", alice) is None
    cluster.create_namespace(bob)
    await wait_for(lambda: cluster.get("pod", "secretflow-task-psi-0", bob))


async def test_lifecycle_timeout_fails_a_waiting_task(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)

    def short_lifecycle(task: dict[str, Any]) -> None:
        task["spec"]["scheduleConfig"] = {"lifecycleSeconds": 2}

    cluster.kubectl_apply(
        cluster.task(
            "secretflow-task-psi.yaml", home, [alice, bob], app_image="never", edit=short_lifecycle
        )
    )
    status = await wait_for(
        lambda: (s := _status(cluster, home, "secretflow-task-psi")).get("phase") == "Failed" and s,
        within=10,
    )
    assert status["reason"] == "LifecycleExpired"
    assert "never" in status["message"]


async def test_appimage_edit_leaves_running_pods_alone_and_waiting_tasks_use_it(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)
    image = f"img-{home}"
    cluster.kubectl_apply(_renamed_image(image))
    cluster.kubectl_apply(
        cluster.task("secretflow-task-psi.yaml", home, [alice, bob], name="first", app_image=image)
    )
    pod = await wait_for(lambda: cluster.get("pod", "first-0", alice))
    config = await wait_for(lambda: cluster.get("configmap", "first-0-config", alice))
    await wait_for(lambda: cluster.objects_created(home, "first"))

    edited = _renamed_image(image)
    edited["spec"]["image"]["tag"] = "v2"
    edited["spec"]["configTemplates"]["task-config.conf"] = '{"edited": "{{.TASK_ID}}"}'
    cluster.kubectl_apply(edited)
    cluster.kubectl_apply(
        cluster.task("secretflow-task-psi.yaml", home, [alice, bob], name="second", app_image=image)
    )
    second = await wait_for(lambda: cluster.get("configmap", "second-0-config", alice))
    assert second["data"]["task-config.conf"] == '{"edited": "second"}'
    second_pod = await wait_for(lambda: cluster.get("pod", "second-0", alice))
    assert second_pod["spec"]["containers"][0]["image"].endswith(":v2")

    # More events for the first task; both parties placed, so its reservation holds.
    for ns in (alice, bob):
        cluster.set_pod_phase(ns, "first-0", "Running")
    await wait_for(lambda: _status(cluster, home, "first").get("phase") == "Running")
    after = cluster.get("pod", "first-0", alice)
    assert after is not None

    def ungated(spec: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in spec.items() if k != "schedulingGates"}

    # Only the reservation's gate came off (it was made behind it).
    assert ungated(after["spec"]) == ungated(pod["spec"])
    assert after["metadata"]["uid"] == pod["metadata"]["uid"]
    assert cluster.get("configmap", "first-0-config", alice)["data"] == config["data"]  # type: ignore[index]


async def test_lifecycle_timeout_fails_a_task_whose_pods_never_start(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)

    def short_lifecycle(task: dict[str, Any]) -> None:
        task["spec"]["scheduleConfig"] = {"lifecycleSeconds": 3}

    cluster.kubectl_apply(example("secretflow-image.yaml"))
    cluster.kubectl_apply(
        cluster.task("secretflow-task-psi.yaml", home, [alice, bob], edit=short_lifecycle)
    )
    await wait_for(lambda: cluster.get("pod", "secretflow-task-psi-0", bob))
    # No event arrives after this: only the deadline can move the task on.
    status = await wait_for(
        lambda: (s := _status(cluster, home, "secretflow-task-psi")).get("phase") == "Failed" and s,
        within=15,
    )
    assert status["reason"] == "LifecycleExpired"
