"""A task's way from creation to its end, against the real API server: the
objects SPEC §3 names, the phases of SPEC §6 driven by Pod status, cleanup."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.reconciler.conftest import Cluster, RunController, example, wait_for


def _phase(cluster: Cluster, namespace: str, name: str) -> str:
    task = cluster.get("kusciatask", name, namespace)
    return str(((task or {}).get("status") or {}).get("phase", ""))


async def test_psi_task_produces_the_objects_spec_names_and_succeeds(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    cluster.kubectl_apply(cluster.task("secretflow-task-psi.yaml", home, [alice, bob]))
    await wait_for(lambda: _phase(cluster, home, "secretflow-task-psi") == "Pending")

    def children(ns: str) -> dict[str, list[str]]:
        selector = "kuscia.secretflow/task-id=secretflow-task-psi"
        return {
            kind: sorted(o["metadata"]["name"] for o in cluster.list(kind, ns, selector))
            for kind in ("pods", "services", "configmaps", "networkpolicies")
        }

    await wait_for(lambda: cluster.objects_created(home, "secretflow-task-psi"))
    for ns in (alice, bob):
        assert children(ns) == {
            "pods": ["secretflow-task-psi-0"],
            "services": [
                "secretflow-task-psi-0-fed",
                "secretflow-task-psi-0-global",
                "secretflow-task-psi-0-spu",
            ],
            "configmaps": ["secretflow-task-psi-0-config"],
            "networkpolicies": ["secretflow-task-psi"],
        }
        config = cluster.get("configmap", "secretflow-task-psi-0-config", ns)
        assert config is not None
        rendered = json.loads(config["data"]["task-config.conf"])
        cluster_define = json.loads(rendered["task_cluster_def"])
        assert [p["name"] for p in cluster_define["parties"]] == [alice, bob]

    for ns in (alice, bob):
        cluster.set_pod_phase(ns, "secretflow-task-psi-0", "Running")
    await wait_for(lambda: _phase(cluster, home, "secretflow-task-psi") == "Running")
    for ns in (alice, bob):
        cluster.set_pod_phase(ns, "secretflow-task-psi-0", "Succeeded")
    await wait_for(lambda: _phase(cluster, home, "secretflow-task-psi") == "Succeeded")

    task = cluster.get("kusciatask", "secretflow-task-psi", home)
    assert task is not None
    status: dict[str, Any] = task["status"]
    assert status["completionTime"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "PortsAllocated": "True",
        "ResourceCreated": "True",
        "ResourceReserved": "True",
        "Running": "True",
        "Success": "True",
    }
    # Finished and succeeded: Pods and ConfigMaps go, Services and policies stay.
    for ns in (alice, bob):
        await wait_for(lambda ns=ns: not children(ns)["pods"] and not children(ns)["configmaps"])
    await asyncio.sleep(0)


async def test_failed_pod_fails_the_task_with_the_reason_and_is_kept(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    cluster.kubectl_apply(cluster.task("secretflow-task-psi.yaml", home, [alice, bob]))
    pod = "secretflow-task-psi-0"
    await wait_for(lambda: cluster.objects_created(home, "secretflow-task-psi"))
    cluster.set_pod_phase(alice, pod, "Running")
    cluster.set_pod_phase(bob, pod, "Failed", reason="Error", message="exit code 3")
    await wait_for(lambda: _phase(cluster, home, "secretflow-task-psi") == "Failed")
    task = cluster.get("kusciatask", "secretflow-task-psi", home)
    assert task is not None
    assert task["status"]["reason"] == "PodFailed"
    assert f"{bob}/{pod}" in task["status"]["message"]
    assert "exit code 3" in task["status"]["message"]
    parties = {p["domainID"]: p["phase"] for p in task["status"]["partyTaskStatus"]}
    assert parties == {alice: "Failed", bob: "Failed"}  # a failed task fails its running parties
    # The failed pod stays for debugging; the others go.
    await wait_for(lambda: cluster.get("pod", pod, alice) is None)
    assert cluster.get("pod", pod, bob) is not None
    events = cluster.kubectl("get", "events", "-n", home, "-o", "json")
    reasons = {e["reason"] for e in json.loads(events)["items"]}
    assert {"Bound", "PodFailed"} <= reasons


async def test_app_task_uses_party_template_and_min_reserved_pods(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)
    cluster.kubectl_apply(example("app-template.yaml"))
    cluster.kubectl_apply(cluster.task("app-task.yaml", home, [alice, bob]))
    await wait_for(lambda: cluster.objects_created(home, "app-task"))
    server = cluster.get("pod", "app-task-server-0", alice)
    client = cluster.get("pod", "app-task-client-0", bob)
    assert server is not None
    assert client is not None
    env = {e["name"]: e.get("value") for e in client["spec"]["containers"][0]["env"]}
    assert env["EXTRA"] == "from-party-template"
    assert env["APP_NAME"] == "app"
    assert "KUSCIA_PORT_GLOBAL_NUMBER" in env
    cluster.set_pod_phase(alice, "app-task-server-0", "Succeeded")
    cluster.set_pod_phase(bob, "app-task-client-0", "Succeeded")
    cluster.set_pod_phase(bob, "app-task-client-1", "Running")
    # bob needs only one of its two pods (minReservedPods: 1).
    await wait_for(lambda: _phase(cluster, home, "app-task") == "Succeeded")
