"""Pod Security Admission: a domain namespace that enforces `restricted` refuses a
privileged AppImage's pod, and the task fails once with the admission's message,
its pod applied once, never retried."""

from __future__ import annotations

import copy
from typing import Any

from reconciler import metrics
from reconciler.kube import API_WRITES
from tests.reconciler.conftest import Cluster, RunController, example, wait_for

ENFORCE = "pod-security.kubernetes.io/enforce"


def _privileged_image(name: str) -> dict[str, Any]:
    image = copy.deepcopy(example("app-template.yaml"))
    image["metadata"]["name"] = name
    for template in image["spec"]["deployTemplates"]:
        for container in template["spec"]["containers"]:
            container["securityContext"] = {"privileged": True}
    return image


def _pod_applies() -> float:
    return API_WRITES.labels("PATCH", "pods")._value.get()


def _task_reconciles() -> float:
    return sum(
        metrics.RECONCILE_TOTAL.labels("kusciatask", result)._value.get()
        for result in ("success", "error", "requeue_after")
    )


async def test_a_restricted_domain_refuses_a_privileged_pod_and_the_task_fails_once(
    cluster: Cluster, run_controller: RunController
) -> None:
    (home,) = cluster.namespaces(1)
    (alice,) = cluster.namespaces(1, labels={ENFORCE: "restricted"})
    # Only this test's task namespace is watched, so every pod apply counted is its own.
    await run_controller(namespace=home)
    image = f"privileged-{home}"
    cluster.kubectl_apply(_privileged_image(image))

    def one_party(task: dict[str, Any]) -> None:
        task["spec"]["parties"] = task["spec"]["parties"][:1]
        task["spec"]["scheduleConfig"]["minReservedMembers"] = 1

    before = _pod_applies()
    cluster.kubectl_apply(
        cluster.task("app-task.yaml", home, [alice, "unused"], app_image=image, edit=one_party)
    )
    status = await wait_for(
        lambda: (
            (s := (cluster.get("kusciatask", "app-task", home) or {}).get("status") or {}).get(
                "phase"
            )
            == "Failed"
            and s
        )
    )
    assert status["reason"] == "ApplyFailed"
    assert f"Pod {alice}/app-task-server-0" in status["message"]
    assert 'violates PodSecurity "restricted:latest"' in status["message"]
    assert "privileged" in status["message"]
    assert cluster.get("pod", "app-task-server-0", alice) is None

    def failures_recorded() -> list[dict[str, Any]]:
        return [
            e
            for e in cluster.list("events", home, "")
            if e["involvedObject"]["name"] == "app-task" and e["reason"] == "ApplyFailed"
        ]

    (event,) = await wait_for(failures_recorded)
    assert event.get("count", 1) == 1
    assert 'violates PodSecurity "restricted:latest"' in event["message"]

    # Another look at the failed task (an edit wakes it) applies nothing again.
    reconciled = _task_reconciles()
    cluster.kubectl("annotate", "kusciatask", "app-task", "-n", home, "looked=again")
    await wait_for(lambda: _task_reconciles() > reconciled)
    assert _pod_applies() - before == 1
