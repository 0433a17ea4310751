"""The scheduled cluster for the tests that need pods to be scheduled and run: its own
control plane with kube-controller-manager, kube-scheduler and KWOK nodes, started
once per session (only when a test asks for it), and the controller against it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from devcluster.scheduled import NodePool, ScheduledCluster
from reconciler.controller import Controller
from reconciler.kube import Kube
from reconciler.settings import ServerSettings, Settings
from tests.conftest import register_plane
from tests.reconciler.conftest import Cluster, RunController, wait_for

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
    running: list[asyncio.Task[None]] = []

    async def start(**overrides: Any) -> Controller:
        overrides.setdefault("workers", 4)
        overrides.setdefault(
            "server", ServerSettings(metrics_address="127.0.0.1:0", health_address="127.0.0.1:0")
        )
        controller = Controller(scheduled_api_client, Settings(**overrides))
        task = asyncio.create_task(controller.run(), name="controller")
        running.append(task)
        await wait_for(lambda: controller.leading.is_set() or task.done(), within=30)
        if task.done():
            task.result()
        return controller

    yield start
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError):
            await task
