"""A leader may write only while its last successful renewal was sent less than
renew_deadline ago on its own clock: a pause past that (a frozen process) bars
writes at once, before any other code runs, and a renewal lifts the bar."""

from __future__ import annotations

import anyio
from kubernetes_asyncio import client

from informers.clock import FakeClock
from reconciler.leaderelection import LeaderElectionConfig, LeaderElector
from tests.reconciler.conftest import wait_for


async def test_a_leader_paused_past_its_renew_deadline_may_not_write_until_it_renews(
    api_client: client.ApiClient, namespace: str
) -> None:
    clock = FakeClock()
    config = LeaderElectionConfig(
        lease_name="freshness",
        namespace=namespace,
        identity="me",
        lease_duration=2.0,
        renew_deadline=1.5,
        retry_period=0.3,
    )
    elector = LeaderElector(api_client, config, clock=clock)
    assert not elector.holds_lease()
    leading, done = anyio.Event(), anyio.Event()

    async def lead() -> None:
        leading.set()
        await done.wait()

    async with anyio.create_task_group() as group:
        group.start_soon(elector.run, lead)
        await leading.wait()
        assert elector.holds_lease()
        clock.step(1.4)
        assert elector.holds_lease()
        clock.step(0.2)  # checked before the renew loop can run: as after a SIGSTOP
        assert elector.is_leader
        assert not elector.holds_lease()
        await wait_for(elector.holds_lease, within=10)  # nobody took over: renewed
        done.set()
    assert not elector.holds_lease()
