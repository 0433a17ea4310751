"""Scenario 6, the burst on the scheduled cluster: the same N two-party tasks created at
once, on a cluster where kube-scheduler binds the pods to KWOK nodes, whose stages move
them to Running, and kube-controller-manager runs (EndpointSlices, ServiceAccounts). So
the controller handles the watch traffic a real cluster sends: every pod bound, given
an IP, started, and the task then reported Running. Ours only: the ceiling replays what
the controller sends on the bare plane, where no pod moves.

Timed: until every task is settled (ResourceCreated=True, as on the bare plane) and
until every task is Running; counted: the controller's writes, reconciles and CPU, and
the pod watch events the API server sent for the run.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench.kit import load, runs
from bench.kit.apiclient import Api
from bench.kit.plane import AuditCounter, ScheduledBenchPlane
from bench.kit.report import Table, fmt, ratio
from bench.kit.world import PARTIES, World, make_world
from devcluster.scheduled import NodePool

PROGRAM = "ours"
NODES = 4
# The pods stay Running: the stages end a pod only when its env says so.
RUNNING_FOR_GOOD = {"DEVCLUSTER_OUTCOME": "Running"}
SETTLE_TIMEOUT = 1800.0


class PhaseObserver(load.Observer):
    """The Observer, also noting when each task is first seen Running, and counting the
    task versions it sees (what an informer of tasks gets)."""

    def __init__(self, api: Api, namespace: str) -> None:
        super().__init__(api, namespace)
        self.running_at: dict[str, float] = {}
        self.events = 0

    def _see(self, task: dict[str, Any]) -> None:
        super()._see(task)
        self.events += 1
        name = task["metadata"]["name"]
        if name not in self.running_at and (task.get("status") or {}).get("phase") == "Running":
            self.running_at[name] = time.monotonic()
            self._changed.set()

    async def wait_running(self, names: list[str], within: float) -> bool:
        return await self.wait_until_noted(self.running_at, names, within)


class EventCounter:
    """Counts the watch events of one collection (what an informer of it would get)."""

    def __init__(self, api: Api, path: str) -> None:
        self.api, self.path, self.events = api, path, 0

    async def run(self) -> None:
        version = (await self.api.json("GET", self.path))["metadata"]["resourceVersion"]
        while True:
            async for event in self.api.watch(self.path, resource_version=version):
                obj = event.get("object") or {}
                version = obj.get("metadata", {}).get("resourceVersion", version)
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    self.events += 1


def plane_for(workdir: Path, tasks: int) -> ScheduledBenchPlane:
    per_node = max(110, -(-2 * (tasks + 1) // NODES) + 10)  # two pods a task, with room
    return ScheduledBenchPlane(workdir / "plane", nodes=NodePool(count=NODES, pods=per_node))


async def run(workdir: Path, tasks: int, bare: dict[str, Any] | None) -> Table:
    """`bare`: the burst table's figures from the same run, for the side-by-side rows."""
    world = await make_world(
        workdir,
        [runs.namespace_of(PROGRAM)],
        plane=plane_for(workdir, tasks),
        app_image_env=RUNNING_FOR_GOOD,
    )
    plane = world.plane
    assert isinstance(plane, ScheduledBenchPlane)
    try:
        for party in PARTIES:
            await asyncio.to_thread(plane.wait_for_service_account, party)
        audit = AuditCounter(plane.audit_log)
        async with world.api(128) as api:
            return await _burst(world, api, audit, tasks, bare)
    finally:
        plane.stop()


async def _burst(
    world: World, api: Api, audit: AuditCounter, tasks: int, bare: dict[str, Any] | None
) -> Table:
    names = runs.task_names(PROGRAM, "s", tasks)
    namespace = runs.namespace_of(PROGRAM)
    contestant = await runs.start(world, PROGRAM)
    observer = PhaseObserver(api, namespace)
    pods = [EventCounter(api, f"/api/v1/namespaces/{ns}/pods") for ns in PARTIES]
    background = [asyncio.create_task(w.run()) for w in (observer, *pods)]
    try:
        await observer.started()
        (warm,) = runs.task_names(PROGRAM, "w", 1)
        bodies = [world.task_body(warm, namespace)]
        await load.create_tasks(api, namespace, bodies, concurrency=1, on_created=_ignore)
        if not await observer.wait_running([warm], 300):
            raise TimeoutError("the warm-up task never ran on the scheduled cluster")
        await runs.wait_quiet(audit, contestant)
        audit.mark()
        reconciled, cpu = contestant.reconciled(), contestant.cpu_seconds()
        server_cpu, pod_events = world.plane.cpu_seconds(), sum(p.events for p in pods)
        task_events = observer.events
        bodies = [world.task_body(name, namespace) for name in names]
        started = time.monotonic()
        await load.create_tasks(api, namespace, bodies, concurrency=100, on_created=_ignore)
        settled_all = await observer.wait_for(names, SETTLE_TIMEOUT)
        running_all = await observer.wait_running(names, SETTLE_TIMEOUT)
        quiet = await runs.wait_quiet(audit, contestant) - started
        figures = {
            "tasks": tasks,
            "settled_all": settled_all,
            "running_all": running_all,
            "settled_seconds": max(observer.settled_at[n] for n in names) - started
            if settled_all
            else float("nan"),
            "running_seconds": max(observer.running_at[n] for n in names) - started
            if running_all
            else float("nan"),
            "quiet_after": quiet,
            "writes": dict(audit.poll().get(contestant.user, {})),
            "reconciles": contestant.reconciled() - reconciled,
            "cpu_seconds": contestant.cpu_seconds() - cpu,
            "server_cpu_seconds": world.plane.cpu_seconds() - server_cpu,
            "pod_watch_events": sum(p.events for p in pods) - pod_events,
            "task_watch_events": observer.events - task_events,
            "rss_mib": contestant.memory() / 2**20,
        }
    finally:
        for job in background:
            job.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        contestant.stop()
    return table(figures, bare)


def _ignore(name: str, uid: str, when: float) -> None:
    return None


def table(figures: dict[str, Any], bare: dict[str, Any] | None) -> Table:
    tasks = figures["tasks"]
    t = Table(
        f"Burst on the scheduled cluster: {tasks:,} two-party tasks, pods bound and Running",
        [
            "cluster",
            "all settled (s)",
            "tasks/s",
            "all Running (s)",
            "writes/task",
            "reconciles/task",
            "CPU per task (ms)",
            "pod watch events/task",
        ],
    )
    if bare is not None:
        writes = sum((bare["writes"].get(PROGRAM) or {}).values())
        t.rows.append(
            [
                "bare plane (burst above)",
                fmt(bare["seconds"][PROGRAM]),
                fmt(bare["tasks_per_second"][PROGRAM]),
                "-",
                fmt(ratio(writes, bare["tasks"])),
                fmt(ratio(bare["ours_reconciles"], bare["tasks"])),
                fmt(1000 * ratio(bare["cpu_seconds"][PROGRAM], bare["tasks"])),
                "-",
            ]
        )
    writes = sum(figures["writes"].values())
    t.rows.append(
        [
            "scheduled (kube-scheduler, KWOK nodes)",
            fmt(figures["settled_seconds"]),
            fmt(ratio(tasks, figures["settled_seconds"])),
            fmt(figures["running_seconds"]),
            fmt(ratio(writes, tasks)),
            fmt(ratio(figures["reconciles"], tasks)),
            fmt(1000 * ratio(figures["cpu_seconds"], tasks)),
            fmt(ratio(figures["pod_watch_events"], tasks)),
        ]
    )
    t.notes += [
        "A fresh scheduled cluster (kube-scheduler, kube-controller-manager, "
        f"{NODES} KWOK nodes) after the bare-plane scenarios; our controller only, with the "
        "same tasks, whose pods here are bound, given an IP, started and kept Running. "
        "Running: the task's status phase, written once its pods run.",
        "Writes per task include the status writes for Running; CPU is the controller's "
        "from the first create until it went quiet; pod watch events are what the API "
        "server sent a watch of the two party namespaces' pods over the same span.",
    ]
    t.figures = figures
    return t
