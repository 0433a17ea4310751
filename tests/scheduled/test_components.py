"""What the scheduled cluster's components do for the project's objects: the stages'
pod lives (a container that never becomes ready), ServiceAccount tokens, garbage
collection and EndpointSlices from kube-controller-manager, and the nodes' capacity."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from devcluster.scheduled import POD_CIDR, ScheduledCluster
from tests.reconciler.conftest import wait_for
from tests.scheduled.conftest import NODES, ScheduledHelpers


def _pod(name: str, namespace: str, env: dict[str, str], labels: dict[str, str] | None = None):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": "local.invalid/app:1",
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }
            ],
        },
    }


def _phase_is(helpers: ScheduledHelpers, namespace: str, name: str, phase: str) -> Any:
    pod = helpers.get("pod", name, namespace) or {}
    return pod if (pod.get("status") or {}).get("phase") == phase else None


def test_nodes_have_the_declared_capacity_and_are_ready(
    scheduled_cluster: ScheduledCluster,
) -> None:
    nodes = json.loads(scheduled_cluster.run_kubectl("get", "nodes", "-o", "json").stdout)
    by_name = {n["metadata"]["name"]: n for n in nodes["items"]}
    assert sorted(by_name) == NODES.names()
    for node in by_name.values():
        assert node["status"]["allocatable"]["cpu"] == NODES.cpu
        assert node["status"]["allocatable"]["memory"] == NODES.memory
        assert node["status"]["allocatable"]["pods"] == str(NODES.pods)
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready[0]["status"] == "True"
        assert not [t for t in node["spec"].get("taints", []) if "not-ready" in t["key"]]


async def test_a_container_that_never_becomes_ready_keeps_its_pod_running_unready(
    scheduled: ScheduledHelpers,
) -> None:
    (namespace,) = scheduled.parties(1)
    scheduled.kubectl_apply(
        _pod("probe-fails", namespace, {"DEVCLUSTER_OUTCOME": "NeverReady"}),
        _pod("control", namespace, {"DEVCLUSTER_OUTCOME": "Running"}),
    )
    control = await wait_for(
        lambda: _phase_is(scheduled, namespace, "control", "Running"), within=60, interval=0.2
    )
    assert control["status"]["containerStatuses"][0]["ready"] is True
    pod = await wait_for(
        lambda: _phase_is(scheduled, namespace, "probe-fails", "Running"), within=60, interval=0.2
    )
    container = pod["status"]["containerStatuses"][0]
    assert "running" in container["state"]
    assert container["ready"] is False
    conditions = {c["type"]: c for c in pod["status"]["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["ContainersReady"]["reason"] == "ContainersNotReady"


async def test_a_pod_succeeds_after_the_time_its_env_asks_for(
    scheduled: ScheduledHelpers,
) -> None:
    (namespace,) = scheduled.parties(1)
    scheduled.kubectl_apply(_pod("short", namespace, {"DEVCLUSTER_RUN_FOR": "100ms"}))
    pod = await wait_for(
        lambda: _phase_is(scheduled, namespace, "short", "Succeeded"), within=60, interval=0.2
    )
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert terminated["reason"] == "Completed"


async def test_service_account_admission_and_tokens(
    scheduled: ScheduledHelpers, scheduled_cluster: ScheduledCluster
) -> None:
    (namespace,) = scheduled.parties(1)
    # kube-controller-manager publishes the API server's CA into every namespace.
    await wait_for(lambda: scheduled.get("configmap", "kube-root-ca.crt", namespace), within=60)
    pod = _pod("with-token", namespace, {"DEVCLUSTER_OUTCOME": "Running"})
    scheduled.kubectl_apply(pod)
    created = scheduled.get("pod", "with-token", namespace)
    assert created is not None
    # Admission gave it the namespace's default ServiceAccount and its token volume.
    assert created["spec"]["serviceAccountName"] == "default"
    projected = [v for v in created["spec"]["volumes"] if "projected" in v]
    assert projected
    # A token the API server signs for that account authenticates as it.
    token = scheduled.kubectl("create", "token", "default", "-n", namespace).strip()
    who = json.loads(scheduled.kubectl("auth", "whoami", f"--token={token}", "-o", "json"))[
        "status"
    ]["userInfo"]["username"]
    assert who == f"system:serviceaccount:{namespace}:default"


async def test_garbage_collector_deletes_dependents(scheduled: ScheduledHelpers) -> None:
    (namespace,) = scheduled.parties(1)
    scheduled.kubectl_apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "owner", "namespace": namespace},
        }
    )
    owner = scheduled.get("configmap", "owner", namespace)
    assert owner is not None
    scheduled.kubectl_apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "dependent",
                "namespace": namespace,
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            },
        }
    )
    scheduled.kubectl("delete", "configmap", "owner", "-n", namespace, "--cascade=background")
    await wait_for(lambda: scheduled.get("configmap", "dependent", namespace) is None, within=60)


async def test_headless_service_gets_endpointslices_with_the_pod_ips(
    scheduled: ScheduledHelpers,
) -> None:
    (namespace,) = scheduled.parties(1)
    labels = {"app": "web"}
    scheduled.kubectl_apply(
        _pod("web-0", namespace, {"DEVCLUSTER_OUTCOME": "Running"}, labels),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "clusterIP": "None",
                "selector": labels,
                "ports": [{"name": "http", "port": 8080}],
            },
        },
    )
    pod = await wait_for(
        lambda: _phase_is(scheduled, namespace, "web-0", "Running"), within=60, interval=0.2
    )

    def ready_addresses() -> list[str]:
        slices = scheduled.list(
            "endpointslices.discovery.k8s.io", namespace, "kubernetes.io/service-name=web"
        )
        return [
            address
            for s in slices
            for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")
            for address in e["addresses"]
        ]

    addresses = await wait_for(ready_addresses, within=60, interval=0.2)
    assert addresses == [pod["status"]["podIP"]]
    assert ipaddress.ip_address(addresses[0]) in ipaddress.ip_network(POD_CIDR)
