"""Fixtures of the fault scenarios: a scenario world purged afterwards, and
controllers (separate processes, or in this event loop) that are always stopped
before that purge, so nothing reacts to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client

from devcluster.cluster import ControlPlane
from reconciler.controller import Controller
from reconciler.kube import Kube
from reconciler.settings import ServerSettings
from tests.reconciler.conftest import running_controllers
from tests.reliability.processes import ControllerProcess
from tests.reliability.scenario import Scenario


@pytest.fixture
async def scenario(api_client: client.ApiClient) -> AsyncIterator[Scenario]:
    world = Scenario(Kube(api_client))
    await world.set_up()
    yield world
    await world.purge()


class Controllers:
    """Starts controller processes; every one is killed when the test ends."""

    def __init__(self, kubeconfig: Path, logs: Path) -> None:
        self.kubeconfig = kubeconfig
        self.logs = logs
        self.started: list[ControllerProcess] = []

    def start(self, *args: str, kubeconfig: Path | None = None) -> ControllerProcess:
        log = self.logs / f"controller-{len(self.started)}.log"
        process = ControllerProcess(kubeconfig or self.kubeconfig, log, *args)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


@pytest.fixture
def controllers(
    scenario: Scenario, control_plane: ControlPlane, tmp_path: Path
) -> Iterator[Controllers]:
    started = Controllers(control_plane.kubeconfig, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


StartInProcess = Callable[..., Awaitable[Controller]]


@pytest.fixture
async def in_process(
    scenario: Scenario, api_client: client.ApiClient
) -> AsyncIterator[StartInProcess]:
    """Starts controllers in this event loop; each is cancelled when the test ends."""
    server = ServerSettings(metrics_address="0", health_address="127.0.0.1:0")
    async with running_controllers(api_client, within=60, server=server) as start:
        yield start
