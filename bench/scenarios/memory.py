"""Scenarios 3 and 5, over growing sets of settled tasks (made in bulk): at each size a
fresh controller starts, and we note how long it takes to sync its caches (cold
start; compared with `kubectl get kusciatasks -A -o json` over the same set) and to
reconcile every task, what it writes (nothing, if all is well) and its memory."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time
from dataclasses import dataclass

from bench.kit import bulk
from bench.kit.apiclient import Api
from bench.kit.contestants import Ours
from bench.kit.plane import AuditCounter
from bench.kit.report import Table, fmt, ratio, verdict
from bench.kit.world import World

NAMESPACE = "bench-bulk"
CHILDREN = "kuscia.secretflow/controller"  # a label every object of a task carries
OBJECTS_PER_TASK = 13  # the task and its 12 objects
MIB, KIB = 2**20, 2**10
SETTLE_SECONDS = 5.0  # after the last reconcile, before reading memory
GOAL_KIB_PER_OBJECT = 4
GOAL_IDLE_MIB = 70


@dataclass
class Step:
    tasks: int
    bulk_seconds: float
    ready_seconds: float
    reconciled_seconds: float
    writes: int
    rss: int
    peak: int
    cpu_seconds: float
    kubectl_tasks: float
    kubectl_all: float


async def run(
    world: World, api: Api, audit: AuditCounter, sizes: tuple[int, ...], kopf_rss: dict[int, float]
) -> list[Table]:
    steps: list[Step] = []
    made = 0
    for count in sizes:
        started = time.monotonic()
        if count > made:
            names = [f"m-bulk-{i:05d}" for i in range(made, count)]
            await bulk.make_settled(world, api, NAMESPACE, names)
            made = count
        bulk_seconds = time.monotonic() - started
        kubectl_tasks = _kubectl_seconds(world, "kusciatasks", runs=3)
        kubectl_all = kubectl_tasks + _kubectl_seconds(
            world, "pods,services,configmaps,networkpolicies", "-l", CHILDREN, runs=1
        )
        audit.mark()
        ours = Ours(world.plane, world.workdir / "logs" / f"ours-memory-{count}.log")
        try:
            ours.wait_ready(timeout=600)
            ready = ours.synced_seconds()
            while ours.reconciled() < count:
                ours.check_alive()
                await asyncio.sleep(0.1)
            reconciled = time.monotonic() - ours.started
            await asyncio.sleep(SETTLE_SECONDS)
            steps.append(
                Step(
                    tasks=count,
                    bulk_seconds=bulk_seconds,
                    ready_seconds=ready,
                    reconciled_seconds=reconciled,
                    writes=audit.writes(ours.user),
                    rss=ours.memory("VmRSS"),
                    peak=ours.memory("VmHWM"),
                    cpu_seconds=ours.cpu_seconds(),
                    kubectl_tasks=kubectl_tasks,
                    kubectl_all=kubectl_all,
                )
            )
        finally:
            ours.stop()
    return [_memory_table(steps, kopf_rss), _cold_start_table(steps)]


def _kubectl_seconds(world: World, kinds: str, *args: str, runs: int) -> float:
    """Median of `runs` runs of `kubectl get KINDS -A -o json`, output discarded."""
    times = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run(
            [
                str(world.plane.kubectl),
                f"--kubeconfig={world.plane.kubeconfig}",
                *("get", kinds, "-A", "-o", "json", *args),
            ],
            stdout=subprocess.DEVNULL,
            check=True,
        )
        times.append(time.monotonic() - started)
    return statistics.median(times)


def _memory_table(steps: list[Step], kopf_rss: dict[int, float]) -> Table:
    base = steps[0]
    t = Table(
        "Memory: our controller's resident memory over settled tasks (all objects cached)",
        [
            "settled tasks",
            "cached objects",
            "RSS (MiB)",
            "peak RSS (MiB)",
            "KiB per task",
            "KiB per cached object",
            "made in (s)",
        ],
    )
    per_object = {}
    for s in steps:
        grown = ratio(s.rss - base.rss, s.tasks - base.tasks) / KIB
        per_object[s.tasks] = grown / OBJECTS_PER_TASK
        t.rows.append(
            [
                f"{s.tasks:,}",
                f"{s.tasks * OBJECTS_PER_TASK:,}",
                fmt(s.rss / MIB),
                fmt(s.peak / MIB),
                fmt(grown) if s.tasks != base.tasks else "-",
                fmt(per_object[s.tasks], 2) if s.tasks != base.tasks else "-",
                fmt(s.bulk_seconds) if s.tasks else "-",
            ]
        )
    last = steps[-1]
    worst = per_object[last.tasks] if last.tasks != base.tasks else float("nan")
    idle = base.rss / MIB
    t.notes += [
        f"per cached object at {last.tasks:,} tasks: {fmt(worst, 2)} KiB (goal <= "
        f"{GOAL_KIB_PER_OBJECT}: {verdict(worst <= GOAL_KIB_PER_OBJECT)}); RSS with "
        f"{base.tasks:,} tasks: {fmt(idle)} MiB (goal <= {GOAL_IDLE_MIB}: "
        f"{verdict(idle <= GOAL_IDLE_MIB)}).",
        "Each task: the task and 12 objects (2 Pods, 6 Services, 2 ConfigMaps, 2 "
        "NetworkPolicies); RSS read from /proc after every task was reconciled. Pods have no "
        "status here (no kubelet).",
    ]
    if kopf_rss:
        t.notes.append(
            "kopf peer for comparison (it caches no children): "
            + ", ".join(f"{v:.0f} MiB with {k:,} tasks" for k, v in sorted(kopf_rss.items()))
            + "."
        )
    t.figures = {
        "steps": [s.__dict__ for s in steps],
        "kib_per_object": per_object,
        "idle_rss_mib": idle,
        "kopf_rss_mib": kopf_rss,
    }
    return t


def _cold_start_table(steps: list[Step]) -> Table:
    t = Table(
        "Cold start: a fresh controller over settled tasks",
        [
            "settled tasks",
            "kubectl get kusciatasks -A -o json (s)",
            "ours: caches synced (s)",
            "vs kubectl",
            "kubectl, tasks and all 4 kinds (s)",
            "ours: every task reconciled (s)",
            "ours: writes",
            "ours: CPU (s)",
        ],
    )
    for s in steps:
        t.rows.append(
            [
                f"{s.tasks:,}",
                fmt(s.kubectl_tasks, 2),
                fmt(s.ready_seconds, 2),
                fmt(ratio(s.ready_seconds, s.kubectl_tasks), 2) + "x",
                fmt(s.kubectl_all, 2),
                fmt(s.reconciled_seconds, 2),
                f"{s.writes:,}",
                fmt(s.cpu_seconds),
            ]
        )
    last = steps[-1]
    cold = ratio(last.ready_seconds, last.kubectl_tasks)
    t.notes += [
        f"at {last.tasks:,} tasks ours/kubectl: {fmt(cold, 2)}x (goal <= 1.2x: "
        f"{verdict(cold <= 1.2)}).",
        "Both timed from process start (kubectl: median of 3; with all kinds, one run). "
        "Ours is ready once all seven caches have listed: tasks, AppImages, namespaces and "
        f"the four kinds of objects ({OBJECTS_PER_TASK - 1} per task); kubectl lists only "
        "what it is asked for.",
    ]
    t.figures = {"steps": [s.__dict__ for s in steps], "ours_vs_kubectl": cold}
    return t
