"""Soak: minutes of task churn (create, run to success, delete) at a steady rate,
against one controller process, printing whether it leaks.

The benchmark's world (bench/kit/world.py: a private control plane, parties `alice`
and `bob`) and our controller as the benchmarks start it (bench/kit/contestants.Ours),
running bench/kit/probe.py: the same command, also reporting its asyncio tasks and the
objects in its caches (with `--trace-memory`, also the allocation sites that grew).
Its resident memory and CPU time are read from /proc, its reconciles and writes from
its /metrics. Tasks are created at `--rate` per second (bench/kit/load.py); each task's
pods are marked Succeeded once they exist (there is no kubelet), and each task is
deleted once it has succeeded. At the end it stops creating, waits for the last tasks
to go, and prints a table over time, the RSS slope (least squares after the first
minute), the asyncio task counts, and the objects left behind (there must be none).
Run: `make soak`, or `.venv/bin/python -m bench.soak [--seconds 600] [--rate 20]
[--task small|psi] [--trace-memory]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.kit import load, probe
from bench.kit.apiclient import Api, ApiError
from bench.kit.contestants import Ours
from bench.kit.world import APP_IMAGES, PARTIES, World, make_world
from devcluster.reconciler_process import metric_total

SAMPLE_EVERY = probe.REPORT_EVERY
WARM_UP = 60.0
HOME = "soak"  # the tasks' namespace
PODS = "/api/v1/pods"
SELECTOR = "kuscia.secretflow/controller=kusciatask"
IN_FLIGHT = 32  # the driver's own patches and deletes at once
RECONCILES = "controller_runtime_reconcile_total"
METRICS_TIMEOUT = 60.0  # a busy controller (tracemalloc) is slow to answer

# One party, one container, no ports, no config: a Pod and a NetworkPolicy per task.
SMALL_IMAGE = {
    "apiVersion": "kuscia.secretflow/v1alpha1",
    "kind": "AppImage",
    "metadata": {"name": "soak-small"},
    "spec": {
        "image": {"name": "busybox", "tag": "1.36"},
        "deployTemplates": [
            {
                "name": "job",
                "replicas": 1,
                "spec": {"containers": [{"name": "job", "command": ["true"]}]},
            }
        ],
    },
}


def task_body(world: World, shape: str, n: int) -> bytes:
    name = f"soak-{n:06d}"
    if shape == "psi":
        return world.task_body(name, HOME)
    task = {
        "apiVersion": "kuscia.secretflow/v1alpha1",
        "kind": "KusciaTask",
        "metadata": {"name": name, "namespace": HOME},
        "spec": {
            "initiator": PARTIES[0],
            "parties": [{"domainID": PARTIES[0], "appImageRef": "soak-small"}],
        },
    }
    return json.dumps(task).encode()


@dataclass
class Churn:
    """What a cluster's kubelets and users would do: every new pod of a task runs to
    Succeeded, and every succeeded task is deleted."""

    api: Api
    created: int = 0
    completed: int = 0  # pods marked Succeeded
    deleted: int = 0  # tasks deleted after they succeeded
    errors: int = 0  # a 404 for an object already gone, or a busy server
    marked: set[str] = field(default_factory=set)
    deleting: set[str] = field(default_factory=set)
    running: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.limit = asyncio.Semaphore(IN_FLIGHT)

    def on_created(self, name: str, uid: str, when: float) -> None:
        self.created += 1

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(load.follow(self.api, load.TASKS_PATH.format(ns=HOME), self._task))
            group.create_task(
                load.follow(self.api, PODS, self._pod, query=[("labelSelector", SELECTOR)])
            )

    def _pod(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        if meta["uid"] in self.marked or (pod.get("status") or {}).get("phase") not in (
            None,
            "Pending",
        ):
            return
        self.marked.add(meta["uid"])
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
        body = {"status": {"phase": "Succeeded"}}
        self._later(
            lambda: self.api.json(
                "PATCH", path, body=body, content_type="application/merge-patch+json"
            ),
            "completed",
        )

    def _task(self, task: dict[str, Any]) -> None:
        name = task["metadata"]["name"]
        if (task.get("status") or {}).get("phase") == "Succeeded" and name not in self.deleting:
            self.deleting.add(name)
            path = f"{load.TASKS_PATH.format(ns=HOME)}/{name}"
            self._later(lambda: self.api.json("DELETE", path), "deleted")

    def _later(self, call: Callable[[], Awaitable[Any]], counter: str) -> None:
        async def bounded() -> None:
            async with self.limit:
                try:
                    await call()
                except ApiError:
                    self.errors += 1
                    return
            setattr(self, counter, getattr(self, counter) + 1)

        task = asyncio.create_task(bounded())
        self.running.add(task)
        task.add_done_callback(self.running.discard)


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_kib: int
    cpu_seconds: float
    asyncio_tasks: int
    live_tasks: int
    counts: tuple[int, int, int]


def _last_report(reports: Path) -> dict[str, Any] | None:
    lines = reports.read_text().splitlines() if reports.exists() else []
    return json.loads(lines[-1]) if lines else None


def _slope_kib_per_minute(samples: list[Sample]) -> float:
    points = [(s.seconds / 60, s.rss_kib) for s in samples if s.seconds >= WARM_UP]
    if len(points) < 2:
        return float("nan")
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    den = sum((x - mean_x) ** 2 for x, _ in points)
    return num / den if den else float("nan")


async def _live_tasks(api: Api) -> int:
    return await load.count(api, load.TASKS_PATH.format(ns=HOME))


async def _soak(args: argparse.Namespace, work: Path) -> None:
    world = await make_world(work, [HOME])
    ours: Ours | None = None
    try:
        async with world.api() as api:
            if args.task == "small":
                await api.json("POST", APP_IMAGES, body=SMALL_IMAGE)
            reports = work / "controller.jsonl"
            trace = work / "growth.txt" if args.trace_memory else None
            env = {probe.REPORTS_ENV: str(reports)}
            if trace is not None:
                env[probe.TRACE_ENV] = str(trace)
            program = (sys.executable, "-m", "bench.kit.probe")
            log = work / "logs" / "controller.log"
            ours = Ours(world.plane, log, "--log-level=warning", program=program, env=env)
            ours.wait_ready()
            churn = Churn(api)
            churning = asyncio.create_task(churn.run())
            bodies = [task_body(world, args.task, n) for n in range(int(args.seconds * args.rate))]
            samples: list[Sample] = []
            started = time.monotonic()

            async def sample() -> None:
                assert ours is not None
                while True:
                    await asyncio.sleep(SAMPLE_EVERY)
                    last = _last_report(reports)
                    if last is None or ours.proc.poll() is not None:
                        continue
                    samples.append(
                        Sample(
                            time.monotonic() - started,
                            ours.memory("VmRSS") // 1024,
                            ours.cpu_seconds(),
                            int(last["asyncio_tasks"]),
                            await _live_tasks(api),
                            (churn.created, churn.completed, churn.deleted),
                        )
                    )

            sampler = asyncio.create_task(sample())
            await load.create_at_rate(
                api, HOME, bodies, rate=args.rate, on_created=churn.on_created
            )
            drained = time.monotonic() + args.drain
            while await _live_tasks(api) and time.monotonic() < drained:
                ours.check_alive()
                await asyncio.sleep(0.5)
            if await _live_tasks(api):
                print(f"the last tasks were not gone {args.drain:.0f}s after the churn stopped")
            await asyncio.sleep(2 * SAMPLE_EVERY)
            sampler.cancel()
            churning.cancel()
            await asyncio.gather(sampler, churning, return_exceptions=True)
            if churn.running:
                await asyncio.wait(churn.running)
            left = await load.count_children(api, PARTIES)
            left["kusciatasks"] = await _live_tasks(api)
            alive = ours.proc.poll() is None
            _print(samples, churn, ours, left, alive, args)
        last = _last_report(reports)
        if last is not None:
            print(f"objects in the controller's caches at the end: {last['cached']}")
        if trace is not None and trace.exists():
            print("\nallocation growth in the controller after the first minute (tracemalloc):")
            print(trace.read_text())
    finally:
        if ours is not None:
            ours.stop()
        world.plane.stop()


def _print(
    samples: list[Sample],
    churn: Churn,
    ours: Ours,
    left: dict[str, int],
    alive: bool,
    args: argparse.Namespace,
) -> None:
    print(f"soak: {args.seconds:.0f} s at {args.rate:g} tasks/s, task shape {args.task!r}")
    print(
        f"{'t (s)':>7} {'created':>8} {'pods done':>10} {'deleted':>8} {'live':>6} "
        f"{'RSS MiB':>8} {'CPU s':>7} {'asyncio':>8}"
    )
    step = max(1, int(60 / SAMPLE_EVERY))
    shown = samples[::step] + ([samples[-1]] if samples and len(samples) % step != 1 else [])
    for s in shown:
        print(
            f"{s.seconds:7.0f} {s.counts[0]:8d} {s.counts[1]:10d} {s.counts[2]:8d} "
            f"{s.live_tasks:6d} {s.rss_kib / 1024:8.1f} {s.cpu_seconds:7.1f} {s.asyncio_tasks:8d}"
        )
    steady = [s for s in samples if s.seconds >= WARM_UP]
    tasks = [s.asyncio_tasks for s in steady] or [0]
    rss = [s.rss_kib / 1024 for s in steady] or [0.0]
    print()
    print(
        f"RSS slope after {WARM_UP:.0f} s: {_slope_kib_per_minute(samples):+.1f} KiB/min "
        f"(min {min(rss):.1f} MiB, max {max(rss):.1f} MiB)"
    )
    kept_up = [s for s in steady if s.live_tasks <= 2 * args.rate]
    print(
        f"RSS slope while keeping up (at most {2 * args.rate:.0f} live tasks, "
        f"{len(kept_up)} samples): {_slope_kib_per_minute(kept_up):+.1f} KiB/min"
    )
    print(
        f"asyncio tasks after {WARM_UP:.0f} s: min {min(tasks)}, max {max(tasks)}, last {tasks[-1]}"
    )
    created, cpu = max(churn.created, 1), ours.cpu_seconds()
    page = ours.metrics(timeout=METRICS_TIMEOUT)
    if page is None:
        counted = f"/metrics did not answer within {METRICS_TIMEOUT:.0f} s"
    else:
        reconciles = metric_total(page, RECONCILES, controller="kusciatask")
        writes = metric_total(page, "kuscia_reconciler_api_writes_total")
        counted = (
            f"{reconciles:.0f} task reconciles ({reconciles / created:.1f} per task), "
            f"{writes:.0f} writes ({writes / created:.1f} per task)"
        )
    print(f"controller: {counted}, {cpu:.1f} CPU s ({1000 * cpu / created:.1f} ms per task)")
    print(
        f"tasks created {churn.created}, deleted after success {churn.deleted}, "
        f"driver errors {churn.errors}, controller alive: {alive}"
    )
    found = ", ".join(f"{kind} {n}" for kind, n in left.items() if n)
    print(f"objects left behind: {sum(left.values())}" + (f" ({found})" if found else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="how long to churn")
    parser.add_argument("--rate", type=float, default=20.0, help="tasks created per second")
    parser.add_argument(
        "--task",
        choices=["small", "psi"],
        default="small",
        help="small: one party, a Pod and a NetworkPolicy; psi: 12 objects",
    )
    parser.add_argument(
        "--drain", type=float, default=300.0, help="how long to wait for the last tasks to go"
    )
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="trace the controller's allocations and print the sites that grew (slow)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as work:
        asyncio.run(_soak(args, Path(work)))


if __name__ == "__main__":
    main()
