"""A settled cluster gets no writes: after 200 tasks have made their objects
and written their status, a full resync of every task and a controller
restart both send zero write requests to the API server."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import REGISTRY

from reconciler.controller import Controller
from reconciler.task_status import resources_created
from tests.reconciler.conftest import Cluster, RunController, example, wait_for

TASKS = 200


def writes() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "kuscia_reconciler_api_writes"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


def reconciles() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "controller_runtime_reconcile"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def settle(controller: Controller, quiet: float = 1.5) -> None:
    """Waits until the queue is empty and no reconcile or write happened for `quiet` s."""
    last = (reconciles(), writes())
    since = time.monotonic()
    deadline = since + 180
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        now = (reconciles(), writes())
        if now != last or any(len(loop.queue) > 0 for loop in controller.loops):
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise AssertionError("the controller never settled")


async def test_resync_and_restart_after_200_settled_tasks_write_nothing(
    cluster: Cluster, run_controller: RunController
) -> None:
    home, alice, bob = cluster.namespaces(3)
    # Tasks of this namespace only, so other tests' leftovers are not counted.
    controller = await run_controller(workers=8, namespace=home)
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    tasks = [
        cluster.task("secretflow-task-psi.yaml", home, [alice, bob], name=f"task-{i:03d}")
        for i in range(TASKS)
    ]
    cluster.kubectl_apply(*tasks)

    def created() -> int:
        return sum(
            1
            for key in controller.caches.tasks.store.list_keys()
            if key.startswith(f"{home}/")
            and resources_created(
                (controller.caches.tasks.store.get_by_key(key) or {}).get("status") or {}
            )
        )

    await wait_for(lambda: created() == TASKS, within=240, interval=0.5)
    await settle(controller)
    assert len(cluster.list("pods", alice)) == TASKS

    before = writes()
    for key in controller.caches.tasks.store.list_keys():
        controller.task_loop.queue.add(key)
    await settle(controller)
    assert writes() == before, "a full resync wrote to the API server"

    await controller.stop()
    restarted = await run_controller(workers=8, namespace=home)
    await settle(restarted)
    assert writes() == before, "a restart over settled tasks wrote to the API server"
