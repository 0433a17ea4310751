"""The API server restarts, and etcd is compacted past every watcher's
resourceVersion (so every watch answers 410 Gone), in the middle of a burst of
tasks: nothing is missed (every task converges to the plan) and nothing is
applied twice with other content (no object made twice, respecified, or ever
seen with content other than the plan's)."""

from __future__ import annotations

import base64
import json
import urllib.request

import anyio
import anyio.to_thread
import pytest
from kubernetes_asyncio import client

from devcluster.cluster import ControlPlane
from tests.reconciler.conftest import wait_for
from tests.reliability.conftest import StartInProcess
from tests.reliability.history import Recorder
from tests.reliability.scenario import Scenario

pytestmark = pytest.mark.slow

WAVE = 60


def _bump_etcd_revision(plane: ControlPlane) -> None:
    """A write straight to etcd, so its revision moves past what any watcher has seen."""
    body = {
        "key": base64.b64encode(b"/reliability/bump").decode(),
        "value": base64.b64encode(b"x").decode(),
    }
    request = urllib.request.Request(
        f"{plane.etcd_url}/v3/kv/put",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _restart_with_compaction(plane: ControlPlane) -> None:
    plane.stop_apiserver()
    try:
        _bump_etcd_revision(plane)
        plane.compact_etcd()
    finally:
        plane.start_apiserver()


async def test_api_server_restarts_and_a_410_mid_burst_miss_nothing_and_rewrite_nothing(
    scenario: Scenario,
    in_process: StartInProcess,
    control_plane: ControlPlane,
    api_client: client.ApiClient,
) -> None:
    controller = await in_process(workers=4)
    recorder = Recorder(api_client, scenario.domains)
    names = [f"wave-{i:03d}" for i in range(3 * WAVE)]

    async def at_least(count: int) -> None:
        async def enough() -> bool:
            return await scenario.created() >= count

        await wait_for(enough, within=180, interval=0.2)

    async with anyio.create_task_group() as group:
        await group.start(recorder.run)
        await scenario.create_tasks(names[:WAVE])
        await at_least(WAVE // 2)
        # a plain restart while the next wave is being created
        group.start_soon(scenario.create_tasks, names[WAVE : 2 * WAVE])
        await anyio.to_thread.run_sync(control_plane.restart_apiserver)
        await at_least(WAVE + WAVE // 2)
        # down, etcd moved on and compacted, up again: every watch must relist
        expired_before = sum(i.stats.expired for i in controller.caches.all)
        group.start_soon(scenario.create_tasks, names[2 * WAVE :])
        await anyio.to_thread.run_sync(_restart_with_compaction, control_plane)
        await at_least(3 * WAVE)
        await scenario.converge(within=90)

        expired = sum(i.stats.expired for i in controller.caches.all) - expired_before
        assert expired >= 1, "no informer was told 410 Gone: the fault was not exercised"
        assert controller.caches.healthy()
        wanted = await scenario.wanted()
        assert len(wanted) == 3 * WAVE * 12
        assert recorder.history.problems(wanted) == []
        group.cancel_scope.cancel()
