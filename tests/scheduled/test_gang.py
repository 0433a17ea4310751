"""Gang scheduling within a party where the API server serves Kubernetes' Workload API:
a cluster of its own with the GenericWorkload feature on (kube-apiserver and
kube-scheduler) and scheduling.k8s.io/v1beta1 served. A party's replicas are one
PodGroup with minCount = minReservedPods, so the scheduler binds them all or none."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from devcluster.scheduled import NodePool, ScheduledCluster
from reconciler.kube import Kube
from tests.conftest import register_plane
from tests.reconciler.conftest import RunController, example, running_controllers, wait_for
from tests.reconciler.podlog import gated, pod_log
from tests.scheduled.conftest import ScheduledHelpers

GATES = "--feature-gates=GenericWorkload=true"
TASK = "secretflow-task-psi"


@dataclass
class GangCluster(ScheduledCluster):
    """The scheduled cluster with the Workload API on."""

    def _spawn(self, name: str, args: list[str]) -> None:
        if name == "kube-scheduler":
            args = [*args, GATES]
        super()._spawn(name, args)


@pytest.fixture(scope="module")
def gang_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GangCluster]:
    # One node of 4 cpu: two of a party's three 2-cpu replicas could never fit at once.
    plane = GangCluster(
        tmp_path_factory.mktemp("gang"),
        nodes=NodePool(count=1, cpu="4", memory="8Gi", pods=20),
        extra_apiserver_args=[GATES, "--runtime-config=scheduling.k8s.io/v1beta1=true"],
    )
    register_plane(plane, "gang_cluster")
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
async def gang_api(gang_cluster: GangCluster) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(gang_cluster.kubeconfig), client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture
def gang(gang_cluster: GangCluster, gang_api: client.ApiClient) -> Iterator[ScheduledHelpers]:
    helper = ScheduledHelpers(gang_cluster, Kube(gang_api))
    yield helper
    for name in helper.created:
        gang_cluster.run_kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
async def run_gang_controller(gang_api: client.ApiClient) -> AsyncIterator[RunController]:
    async with running_controllers(gang_api) as start:
        yield start


def _three_replicas_of(cpu: str, min_pods: int) -> Any:
    def edit(task: dict[str, Any]) -> None:
        task["spec"]["scheduleConfig"] = {
            "resourceReservedSeconds": 6,
            "retryIntervalSeconds": 3,
            "lifecycleSeconds": 120,
        }
        party = task["spec"]["parties"][0]
        task["spec"]["parties"] = [party]
        party["minReservedPods"] = min_pods
        party["template"] = {
            "replicas": 3,
            "spec": {
                "containers": [
                    {
                        "resources": {"requests": {"cpu": cpu}},
                        "env": [{"name": "DEVCLUSTER_OUTCOME", "value": "Running"}],
                    }
                ]
            },
        }

    return edit


async def test_a_partys_replicas_are_one_gang_bound_all_together_or_not_at_all(
    gang: ScheduledHelpers, run_gang_controller: RunController, gang_api: client.ApiClient
) -> None:
    await run_gang_controller()
    home = gang.namespaces(1)[0]
    (alice,) = gang.parties(1)
    gang.kubectl_apply(copy.deepcopy(example("secretflow-image.yaml")))
    task = gang.task(
        "secretflow-task-psi.yaml",
        home,
        [alice, "unused"],
        edit=_three_replicas_of("2", min_pods=3),
    )
    async with pod_log(gang_api, f"kuscia.secretflow/task-id={TASK}") as log:
        gang.kubectl_apply(task)
        group = await wait_for(lambda: gang.get("podgroup", TASK, alice), within=30)
        assert group["spec"]["schedulingPolicy"] == {"gang": {"minCount": 3}}
        await wait_for(
            lambda: (
                (gang.get("kusciatask", TASK, home) or {})
                .get("status", {})
                .get("reservation", {})
                .get("phase")
                == "ReserveFailed"
            ),
            within=40,
        )
    pods = [p for k, p in log.events if k == "ADDED"]
    assert len(pods) == 3
    assert all(p["spec"]["schedulingGroup"] == {"podGroupName": TASK} for p in pods)
    assert all(gated(p) for p in pods)
    # Two would fit on the node, one at a time; as a gang of 3 none is bound.
    assert not any(p["spec"].get("nodeName") for _, p in log.events)
    status = gang.get("kusciatask", TASK, home)["status"]  # type: ignore[index]
    assert status["reservation"]["gangScheduling"] is True
    assert [p["domainID"] for p in status["reservation"]["unplacedParties"]] == [alice]


async def test_a_gang_that_fits_is_bound_and_runs(
    gang: ScheduledHelpers, run_gang_controller: RunController
) -> None:
    await run_gang_controller()
    home = gang.namespaces(1)[0]
    (alice,) = gang.parties(1)
    gang.kubectl_apply(copy.deepcopy(example("secretflow-image.yaml")))
    gang.kubectl_apply(
        gang.task(
            "secretflow-task-psi.yaml",
            home,
            [alice, "unused"],
            edit=_three_replicas_of("1", min_pods=3),
        )
    )

    def phase() -> str:
        return str(((gang.get("kusciatask", TASK, home) or {}).get("status") or {}).get("phase"))

    await wait_for(lambda: phase() == "Running", within=60)
    status = gang.get("kusciatask", TASK, home)["status"]  # type: ignore[index]
    assert status["reservation"] == {
        **{k: status["reservation"][k] for k in ("releaseTime",)},
        "phase": "Reserved",
        "attempts": 1,
        "gangScheduling": True,
    }
    selector = f"kuscia.secretflow/task-id={TASK}"
    assert all(p["spec"].get("nodeName") for p in gang.list("pods", alice, selector))
