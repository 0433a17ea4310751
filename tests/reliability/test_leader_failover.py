"""Leader failover under load, two replicas with --leader-elect: the leader
freezes (SIGSTOP: a long pause, the worst case, as it wakes up still believing
it leads), the standby takes over within 20 s, the old leader is thawed, and the
API server's audit log shows it wrote nothing once the new leader held the
Lease: never two writers at once. Every task still converges to the plan."""

from __future__ import annotations

import functools
import signal
import time
from pathlib import Path

import anyio
import pytest

from devcluster.cluster import ControlPlane
from tests.reconciler.conftest import wait_for
from tests.reliability.audit import audited_users
from tests.reliability.conftest import Controllers
from tests.reliability.processes import ControllerProcess
from tests.reliability.scenario import Scenario

pytestmark = pytest.mark.slow

TASKS = 160
LEASE = "kuscia-reconciler"


async def _holder(scenario: Scenario) -> tuple[str, int]:
    path = f"/apis/coordination.k8s.io/v1/namespaces/{scenario.home}/leases/{LEASE}"
    try:
        spec = (await scenario.kube.request("GET", path)).get("spec") or {}
    except Exception:  # not there yet, or the API server is busy: no holder seen
        return "", 0
    return str(spec.get("holderIdentity") or ""), int(spec.get("leaseTransitions") or 0)


def _owner(processes: dict[str, ControllerProcess], holder: str) -> str:
    return next((user for user, p in processes.items() if f"_{p.pid}_" in holder), "")


async def test_a_frozen_leader_is_replaced_within_20s_and_never_writes_beside_its_successor(
    scenario: Scenario, controllers: Controllers, control_plane: ControlPlane, tmp_path: Path
) -> None:
    users = ["replica-a", "replica-b"]
    with audited_users(control_plane, users, tmp_path) as audit:
        processes = {
            user: controllers.start(
                "--leader-elect",
                f"--leader-election-namespace={scenario.home}",
                kubeconfig=audit.kubeconfigs[user],
            )
            for user in users
        }

        async def leader() -> str:
            return _owner(processes, (await _holder(scenario))[0])

        old = await wait_for(leader, within=60, interval=0.2)
        new = next(u for u in users if u != old)
        _, transitions = await _holder(scenario)
        names = [f"load-{i:03d}" for i in range(TASKS)]

        async with anyio.create_task_group() as group:
            group.start_soon(functools.partial(scenario.create_tasks, names, concurrency=2))

            async def working() -> bool:
                return await scenario.created() >= TASKS // 4

            await wait_for(working, within=120, interval=0.2)
            processes[old].signal(signal.SIGSTOP)
            frozen = time.monotonic()

            async def taken_over() -> bool:
                return await leader() == new

            await wait_for(taken_over, within=40, interval=0.1)
            takeover = time.monotonic() - frozen
            await anyio.sleep(2)  # the successor is busy writing when the old leader wakes
            processes[old].signal(signal.SIGCONT)

            def exited() -> bool:
                return not processes[old].alive

            await wait_for(exited, within=30, interval=0.2)

        async def all_created() -> bool:
            return await scenario.created() == TASKS

        await wait_for(all_created, within=240, interval=0.5)
        await scenario.converge(within=60)
        holder, transitions_after = await _holder(scenario)
        assert processes[new].alive, processes[new].tail()
    writes = audit.writes()

    assert takeover < 20, f"the standby took {takeover:.1f}s to take over"
    assert _owner(processes, holder) == new
    assert transitions_after == transitions + 1
    assert processes[old].proc.returncode == 1, processes[old].tail()
    acquired = next(
        w.received
        for w in writes
        if w.user == new and w.resource == "leases" and w.code in (200, 201)
    )
    assert any(w.user == old and w.resource != "leases" and w.received < acquired for w in writes)
    assert any(w.user == new and w.resource != "leases" for w in writes)
    # Late: reaching the server after the takeover, or taking effect after it (a request
    # whose headers came before and its body after is refused at its deadline, 504).
    late = [
        f"{w.received.time()}..{w.completed.time()} {w.verb} {w.resource}/{w.name} -> {w.code}"
        for w in writes
        if w.user == old
        and (w.resource != "leases" or w.code < 400)
        and (w.received >= acquired or (w.completed >= acquired and w.code < 400))
    ]
    assert late == [], (
        f"the old leader wrote {len(late)} times after {acquired.time()}, when the new "
        "leader held the Lease:\n" + "\n".join(late[:20])
    )
