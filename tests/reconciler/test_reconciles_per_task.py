"""One reconcile per task: a burst of fresh tasks is reconciled once each (the watch
events of the objects and status the controller applied bring none back), and so is a
relist of every cache over settled tasks (a child whose version did not change brings
none back); a change someone else makes still does."""

from __future__ import annotations

from prometheus_client import REGISTRY

from reconciler.task_status import resources_created
from tests.reconciler.conftest import Cluster, RunController, example, wait_for
from tests.reconciler.test_zero_writes import settle, writes

TASKS = 20


def reconciles() -> float:
    """Reconciles of tasks (the AppImage loop's are its own)."""
    value = REGISTRY.get_sample_value(
        "controller_runtime_reconcile_total", {"controller": "kusciatask", "result": "success"}
    )
    requeued = REGISTRY.get_sample_value(
        "controller_runtime_reconcile_total",
        {"controller": "kusciatask", "result": "requeue_after"},
    )
    errors = REGISTRY.get_sample_value(
        "controller_runtime_reconcile_total", {"controller": "kusciatask", "result": "error"}
    )
    return (value or 0.0) + (requeued or 0.0) + (errors or 0.0)


async def test_a_burst_and_a_relist_reconcile_each_task_once(
    cluster: Cluster, run_controller: RunController
) -> None:
    home, alice, bob = cluster.namespaces(3)
    controller = await run_controller(workers=4, namespace=home)
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    await settle(controller)
    before = reconciles()
    cluster.kubectl_apply(
        *[
            cluster.task("secretflow-task-psi.yaml", home, [alice, bob], name=f"task-{i:02d}")
            for i in range(TASKS)
        ]
    )

    def created() -> int:
        store = controller.caches.tasks.store
        return sum(
            resources_created((store.get_by_key(k) or {}).get("status") or {})
            for k in store.list_keys()
            if k.startswith(f"{home}/")
        )

    await wait_for(lambda: created() == TASKS, within=120, interval=0.2)
    await settle(controller)
    assert reconciles() - before == TASKS
    # Everything the controller wrote came back, and nothing waits for an echo.
    assert len(controller.own_writes) == 0

    # A relist of every cache, as after a watch that cannot resume (410 Gone).
    before, wrote = reconciles(), writes()
    for informer in controller.caches.all:
        informer.replace(informer.store.list(), informer.store.resource_version)
    await settle(controller)
    assert reconciles() - before == TASKS
    assert writes() == wrote

    # A pod changed by someone else (its labels, as a user might) brings its task back.
    before = reconciles()
    pod = cluster.list("pods", alice)[0]["metadata"]["name"]
    cluster.kubectl("label", "pod", "-n", alice, pod, "touched=yes")
    await wait_for(lambda: reconciles() > before, within=60, interval=0.2)
