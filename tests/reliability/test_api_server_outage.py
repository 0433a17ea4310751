"""The API server is unreachable for 30 s: the controller process stays up and
its /healthz says why it is unhealthy for as long as the outage lasts; when the
API server returns, /healthz recovers and work resumes: running tasks finish
and new ones converge to the plan."""

from __future__ import annotations

import time

import anyio
import anyio.to_thread
import pytest

from devcluster.cluster import ControlPlane
from tests.reconciler.conftest import wait_for
from tests.reliability.conftest import Controllers
from tests.reliability.expected import differences
from tests.reliability.scenario import Scenario, resources_created

pytestmark = pytest.mark.slow

OUTAGE = 30.0
REPORTED_WITHIN = 10.0
# The controller's informers retry at most 10 s apart; the first try may still meet
# a server that is starting (429/503), so two such waits and some slack.
RECOVERY = 30.0
TASKS = 20
KEPT_UNTIL_DONE = ("Pod", "ConfigMap")  # deleted when a task succeeds


async def test_a_30s_api_server_outage_keeps_the_controller_up_reports_it_and_work_resumes(
    scenario: Scenario, controllers: Controllers, control_plane: ControlPlane
) -> None:
    process = controllers.start()

    async def probe_ok(path: str) -> bool:
        return (await process.probe(path))[0] == 200

    await wait_for(lambda: probe_ok("/readyz"), within=60, interval=0.2)
    before = [f"before-{i:02d}" for i in range(TASKS)]
    await scenario.create_tasks(before)

    async def created(count: int) -> bool:
        return await scenario.created() == count

    await wait_for(lambda: created(TASKS), within=60, interval=0.2)

    samples: list[tuple[float, int, str, bool]] = []
    await anyio.to_thread.run_sync(control_plane.stop_apiserver)
    try:
        down = time.monotonic()
        while (elapsed := time.monotonic() - down) < OUTAGE:
            status, body = await process.probe("/healthz")
            samples.append((elapsed, status, body, process.alive))
            await anyio.sleep(1)
    finally:
        await anyio.to_thread.run_sync(control_plane.start_apiserver)

    assert all(alive for *_, alive in samples), process.tail()
    late = [s for s in samples if s[0] >= REPORTED_WITHIN]
    assert len(late) >= OUTAGE - REPORTED_WITHIN - 2
    assert all(status == 500 and "cannot list/watch" in body for _, status, body, _ in late), [
        s[:3] for s in late if s[1] != 500
    ]

    back = time.monotonic()
    await wait_for(lambda: probe_ok("/healthz"), within=RECOVERY, interval=0.5)
    recovered = time.monotonic() - back
    for name in before:  # the tasks that were running finish
        await scenario.set_pod_phase(scenario.domains[0], f"{name}-0", "Succeeded")
        await scenario.set_pod_phase(scenario.domains[1], f"{name}-0", "Succeeded")
    after = [f"after-{i:02d}" for i in range(TASKS)]
    await scenario.create_tasks(after)

    async def finished() -> bool:
        """The running tasks succeeded, once (their Pods and ConfigMaps are gone, not made
        again), and the new ones made their objects."""
        tasks = {t["metadata"]["name"]: t for t in await scenario.tasks()}
        live = await scenario.children()
        return (
            all((tasks[n].get("status") or {}).get("phase") == "Succeeded" for n in before)
            and all(resources_created(tasks[n]) for n in after if n in tasks)
            and len(tasks) == 2 * TASKS
            and not [k for k in live if k[2].startswith("before-") and k[0] in KEPT_UNTIL_DONE]
        )

    await wait_for(finished, within=90, interval=0.5)
    live = await scenario.children()
    tasks = [t for t in await scenario.tasks() if t["metadata"]["name"].startswith("after-")]
    new = {k: obj for k, obj in live.items() if k[2].startswith("after-")}
    uids = [t["metadata"]["uid"] for t in tasks]
    assert differences(await scenario.wanted(tasks), new, uids) == []
    assert process.alive
    print(f"healthz recovered {recovered:.1f}s after the API server came back")
