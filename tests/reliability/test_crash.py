"""Crash mid-burst: 500 tasks arrive, the controller is SIGKILLed half-way
through them and started again; every task converges to exactly what the
builders plan, with no object missing, extra, duplicated or made twice."""

from __future__ import annotations

import signal

import anyio
import pytest
from kubernetes_asyncio import client

from tests.reconciler.conftest import wait_for
from tests.reliability.conftest import Controllers
from tests.reliability.history import Recorder
from tests.reliability.scenario import Scenario

pytestmark = pytest.mark.slow

TASKS = 500


async def test_sigkill_half_way_through_500_tasks_then_a_restart_converges_to_the_plan(
    scenario: Scenario, controllers: Controllers, api_client: client.ApiClient
) -> None:
    recorder = Recorder(api_client, scenario.domains)
    async with anyio.create_task_group() as group:
        await group.start(recorder.run)
        first = controllers.start()
        group.start_soon(scenario.create_tasks, [f"burst-{i:03d}" for i in range(TASKS)])

        async def half_way() -> bool:
            return await scenario.created() >= TASKS // 2

        await wait_for(half_way, within=240, interval=0.2)
        first.signal(signal.SIGKILL)
        first.proc.wait()
        at_kill = await scenario.created()
        assert at_kill < TASKS, "the controller finished before it could be killed half-way"

        second = controllers.start()

        async def all_created() -> bool:
            return await scenario.created() == TASKS

        await wait_for(all_created, within=300, interval=0.5)
        await scenario.converge(within=60)
        assert second.alive, second.tail()

        wanted = await scenario.wanted()
        assert len(wanted) == TASKS * 12
        assert recorder.history.problems(wanted) == []
        group.cancel_scope.cancel()
