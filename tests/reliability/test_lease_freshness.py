"""A leader may write only while its last successful renewal was sent less than
renew_deadline ago on its own clock: a pause past that (a frozen process) bars
writes at once, before any other code runs, and a renewal lifts the bar. Proven
through the gate the controller writes behind: a `Kube` guarded by the elector."""

from __future__ import annotations

import anyio
import pytest
from kubernetes_asyncio import client

from informers.clock import FakeClock
from reconciler.kube import Kube
from reconciler.leaderelection import LeaderElectionConfig, LeaderElector, LeaseNotHeld
from tests.reconciler.conftest import wait_for


async def test_a_leader_paused_past_its_renew_deadline_may_not_write_until_it_renews(
    api_client: client.ApiClient, namespace: str
) -> None:
    clock = FakeClock()
    config = LeaderElectionConfig(
        lease_name="freshness",
        namespace=namespace,
        identity="me",
        lease_duration=4.0,  # a successor comes 2.5 s after the renew deadline
        renew_deadline=1.5,
        retry_period=0.3,
    )
    elector = LeaderElector(api_client, config, clock=clock)
    kube = Kube(api_client, write_guard=elector.check_write)

    async def write(name: str) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap"}
        meta = {"name": name, "namespace": namespace}
        await kube.apply({**body, "metadata": meta}, field_manager="freshness")

    assert not elector.may_write()
    with pytest.raises(LeaseNotHeld):
        await write("before-leading")
    leading, done = anyio.Event(), anyio.Event()

    async def lead() -> None:
        leading.set()
        await done.wait()

    async with anyio.create_task_group() as group:
        group.start_soon(elector.run, lead)
        await leading.wait()
        assert elector.may_write()
        await write("leading")
        clock.step(1.4)
        assert elector.may_write()
        clock.step(0.2)  # checked before the renew loop can run: as after a SIGSTOP
        assert elector.is_leader
        assert not elector.may_write()
        with pytest.raises(LeaseNotHeld):
            await write("paused")
        await wait_for(elector.may_write, within=10)  # nobody took over: renewed
        await write("renewed")
        done.set()
    assert not elector.may_write()
