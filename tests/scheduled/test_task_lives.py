"""Tasks on the scheduled cluster: the real kube-scheduler binds their pods to KWOK
nodes, the project's stages run them to their end, kube-controller-manager completes
a namespace's deletion. Nothing in these tests writes Pod status."""

from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

from devcluster.scheduled import POD_CIDR
from tests.reconciler.conftest import RunController, example, wait_for
from tests.scheduled.conftest import NODES, ScheduledHelpers

PSI = "secretflow-task-psi"
PSI_POD = "secretflow-task-psi-0"


def _status(helpers: ScheduledHelpers, namespace: str, name: str) -> dict[str, Any]:
    task = helpers.get("kusciatask", name, namespace) or {}
    status: dict[str, Any] = task.get("status") or {}
    return status


def _phase(helpers: ScheduledHelpers, namespace: str, name: str) -> str:
    return str(_status(helpers, namespace, name).get("phase", ""))


def _party_env(domain: str, env: dict[str, str]) -> Any:
    """An edit for Cluster.task: the party template of `domain` appends `env`."""

    def edit(task: dict[str, Any]) -> None:
        for party in task["spec"]["parties"]:
            if party["domainID"] == domain:
                template = party.setdefault("template", {}).setdefault("spec", {})
                containers = template.setdefault("containers", [{}])
                containers[0].setdefault("env", []).extend(
                    {"name": k, "value": v} for k, v in env.items()
                )

    return edit


def _events(helpers: ScheduledHelpers, namespace: str, pod: str) -> dict[str, dict[str, Any]]:
    items = json.loads(
        helpers.kubectl(
            "get",
            "events",
            "-n",
            namespace,
            "--field-selector",
            f"involvedObject.name={pod}",
            "-o",
            "json",
        )
    )["items"]
    return {e["reason"]: e for e in items}


async def test_two_party_task_is_scheduled_runs_and_succeeds(
    scheduled: ScheduledHelpers, run_scheduled_controller: RunController
) -> None:
    await run_scheduled_controller()
    home = scheduled.namespaces(1)[0]
    alice, bob = scheduled.parties(2)
    task = scheduled.task("secretflow-task-psi.yaml", home, [alice, bob])
    # Long enough a run that a poll sees each pod Running, however slow the machine.
    for domain in (alice, bob):
        _party_env(domain, {"DEVCLUSTER_RUN_FOR": "8s"})(task)
    scheduled.kubectl_apply(example("secretflow-image.yaml"))
    scheduled.kubectl_apply(task)

    seen_running: dict[str, dict[str, Any]] = {}

    def each_pod_seen_running() -> bool:
        for ns in (alice, bob):
            pod = scheduled.get("pod", PSI_POD, ns)
            if ns not in seen_running and pod and pod["status"].get("phase") == "Running":
                seen_running[ns] = pod
        return len(seen_running) == 2

    await wait_for(each_pod_seen_running, within=60, interval=0.2)
    pods = list(seen_running.values())
    for pod in pods:
        assert pod["spec"]["nodeName"] in NODES.names()
        conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert conditions["PodScheduled"] == "True"
        assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(POD_CIDR)
        states = [c["state"] for c in pod["status"]["containerStatuses"]]
        assert all("running" in s for s in states)

    await wait_for(lambda: _phase(scheduled, home, PSI) == "Succeeded", within=60, interval=0.2)
    status = _status(scheduled, home, PSI)
    assert status["completionTime"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "PortsAllocated": "True",
        "ResourceCreated": "True",
        "ResourceReserved": "True",
        "Running": "True",
        "Success": "True",
    }
    assert {p["domainID"]: p["phase"] for p in status["partyTaskStatus"]} == {
        alice: "Succeeded",
        bob: "Succeeded",
    }
    for ns in (alice, bob):
        events = _events(scheduled, ns, PSI_POD)
        scheduled_by = events["Scheduled"]
        assert "default-scheduler" in (
            scheduled_by.get("reportingComponent"),
            scheduled_by.get("source", {}).get("component"),
        )
        assert {"Created", "Started", "Completed"} <= set(events)
    # Succeeded: the controller deletes Pods and ConfigMaps, KWOK completes the
    # Pods' deletion as a kubelet would; Services and NetworkPolicies stay.
    selector = f"kuscia.secretflow/task-id={PSI}"
    for ns in (alice, bob):
        await wait_for(
            lambda ns=ns: (
                not scheduled.list("pods", ns, selector)
                and not scheduled.list("configmaps", ns, selector)
            ),
            within=60,
        )
        assert scheduled.list("services", ns, selector)


async def test_failed_container_fails_the_task_with_its_exit_code(
    scheduled: ScheduledHelpers, run_scheduled_controller: RunController
) -> None:
    await run_scheduled_controller()
    home = scheduled.namespaces(1)[0]
    alice, bob = scheduled.parties(2)
    message = "psi: bob-table has no column id"
    failing = {
        "DEVCLUSTER_OUTCOME": "Failed",
        "DEVCLUSTER_EXIT_CODE": "3",
        "DEVCLUSTER_MESSAGE": message,
    }
    task = scheduled.task(
        "secretflow-task-psi.yaml", home, [alice, bob], edit=_party_env(bob, failing)
    )
    # alice's pod would succeed after 2 s; keep it running so that bob decides.
    _party_env(alice, {"DEVCLUSTER_OUTCOME": "Running"})(task)
    scheduled.kubectl_apply(example("secretflow-image.yaml"))
    scheduled.kubectl_apply(task)

    await wait_for(lambda: _phase(scheduled, home, PSI) == "Failed", within=60, interval=0.2)
    status = _status(scheduled, home, PSI)
    assert status["reason"] == "PodFailed"
    assert f"{bob}/{PSI_POD}" in status["message"]
    assert "exited with 3 (Error)" in status["message"]
    entry = status["podStatuses"][f"{bob}/{PSI_POD}"]
    assert entry["podPhase"] == "Failed"
    assert entry["nodeName"] in NODES.names()
    assert "exited with 3 (Error)" in entry["message"]
    # The failed pod stays for debugging, with what the stage wrote for its container.
    pod = scheduled.get("pod", PSI_POD, bob)
    assert pod is not None
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 3
    assert terminated["reason"] == "Error"
    assert terminated["message"] == message


async def test_pod_that_fits_no_node_is_unschedulable(
    scheduled: ScheduledHelpers, run_scheduled_controller: RunController
) -> None:
    await run_scheduled_controller()
    home = scheduled.namespaces(1)[0]
    alice, bob = scheduled.parties(2)
    image = copy.deepcopy(example("app-template.yaml"))
    image["metadata"]["name"] = f"huge-{home}"
    huge = {"cpu": str(int(NODES.cpu) * 4), "memory": "1Gi"}
    for template in image["spec"]["deployTemplates"]:
        for container in template["spec"]["containers"]:
            container["resources"] = {"requests": dict(huge), "limits": dict(huge)}
    scheduled.kubectl_apply(image)
    scheduled.kubectl_apply(
        scheduled.task("app-task.yaml", home, [alice, bob], app_image=image["metadata"]["name"])
    )

    def unschedulable() -> dict[str, Any] | None:
        pod = scheduled.get("pod", "app-task-server-0", alice) or {}
        for condition in (pod.get("status") or {}).get("conditions", []):
            if condition["type"] == "PodScheduled" and condition.get("reason") == "Unschedulable":
                return dict(condition)
        return None

    condition = await wait_for(unschedulable, within=60, interval=0.2)
    assert condition["status"] == "False"
    assert f"0/{NODES.count} nodes are available" in condition["message"]
    assert "Insufficient cpu" in condition["message"]
    await wait_for(lambda: _status(scheduled, home, "app-task").get("podStatuses"), within=30)
    status = _status(scheduled, home, "app-task")
    assert status["phase"] == "Pending"
    entry = status["podStatuses"][f"{alice}/app-task-server-0"]
    assert entry["podPhase"] == "Pending"
    assert "nodeName" not in entry


async def test_deleting_a_party_namespace_is_completed_by_the_namespace_controller(
    scheduled: ScheduledHelpers, run_scheduled_controller: RunController
) -> None:
    await run_scheduled_controller()
    home = scheduled.namespaces(1)[0]
    alice, bob = scheduled.parties(2)
    task = scheduled.task("secretflow-task-psi.yaml", home, [alice, bob])
    for domain in (alice, bob):
        _party_env(domain, {"DEVCLUSTER_OUTCOME": "Running"})(task)
    scheduled.kubectl_apply(example("secretflow-image.yaml"))
    scheduled.kubectl_apply(task)
    await wait_for(lambda: _phase(scheduled, home, PSI) == "Running", within=60, interval=0.2)

    scheduled.kubectl("delete", "namespace", bob, "--wait=false")
    # The namespace controller deletes what is in it, KWOK completes the bound pod's
    # deletion, and the namespace itself goes.
    await wait_for(lambda: scheduled.get("namespace", bob) is None, within=90, interval=0.5)
    # The task cannot go on without bob's objects (the controller's apply into the
    # terminating namespace is refused, or it finds the pod gone).
    await wait_for(lambda: _phase(scheduled, home, PSI) == "Failed", within=60, interval=0.2)
    status = _status(scheduled, home, PSI)
    assert status["reason"] in ("ApplyFailed", "PodNotFound")
    assert bob in status["message"]
