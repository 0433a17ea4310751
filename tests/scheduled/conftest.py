"""The scheduled cluster for the tests that need pods to be scheduled and run: its own
control plane with kube-controller-manager, kube-scheduler and KWOK nodes, started
once per session (only when a test asks for it), and the controller against it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from kubernetes_asyncio import client, config

from devcluster.scheduled import NodePool, ScheduledCluster
from reconciler.kube import Kube
from tests.conftest import register_plane
from tests.reconciler.conftest import Cluster, RunController, running_controllers

# Two small nodes: a pod asking for more than NODE_CPU fits on neither.
NODES = NodePool(count=2, cpu="4", memory="8Gi", pods=50)
DOMAIN_LABELS = {"kuscia.secretflow/domain": "true"}


@pytest.fixture(scope="session")
def scheduled_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScheduledCluster]:
    plane = ScheduledCluster(tmp_path_factory.mktemp("scheduled"), nodes=NODES)
    register_plane(plane)
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
async def scheduled_api_client(
    scheduled_cluster: ScheduledCluster,
) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(scheduled_cluster.kubeconfig), client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api:
        yield api


class ScheduledHelpers(Cluster):
    """The end-to-end helpers, with party namespaces labelled as Kuscia domains and
    ready for pods (their `default` ServiceAccount exists)."""

    plane: ScheduledCluster

    def parties(self, count: int) -> list[str]:
        names = self.namespaces(count, labels=DOMAIN_LABELS)
        for name in names:
            self.plane.wait_for_service_account(name)
        return names


@pytest.fixture
def scheduled(
    scheduled_cluster: ScheduledCluster, scheduled_api_client: client.ApiClient
) -> Iterator[ScheduledHelpers]:
    helper = ScheduledHelpers(scheduled_cluster, Kube(scheduled_api_client))
    yield helper
    for name in helper.created:
        scheduled_cluster.run_kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
async def run_scheduled_controller(
    scheduled_api_client: client.ApiClient,
) -> AsyncIterator[RunController]:
    """Starts a controller against the scheduled cluster; stopped when the test ends."""
    async with running_controllers(scheduled_api_client) as start:
        yield start
