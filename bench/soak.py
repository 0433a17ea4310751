"""Soak: minutes of task churn (create, run to success, delete) at a steady rate,
against one controller process, printing whether it leaks.

Starts a private control plane and a controller process that also reports its
resident memory, its count of asyncio tasks and the objects in its caches every
few seconds (with `--trace-memory`, also the allocation sites that grew). The driver
creates tasks at `--rate` per second, marks each task's pods Succeeded once they
exist (there is no kubelet), and deletes each task once it has succeeded. At the
end it stops creating, waits for the last tasks to go, and prints a table over
time, the RSS slope (least squares after the first minute), the asyncio task
counts, and the objects left behind (there must be none). Run: `make soak`, or
`.venv/bin/python bench/soak.py [--seconds 600] [--rate 20] [--task small|psi]
[--trace-memory]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
if not __package__:
    sys.path.insert(0, str(REPO))

from devcluster.cluster import ControlPlane, free_port  # noqa: E402

EXAMPLES = REPO / "tests" / "fixtures" / "examples"
SCRIPT = Path(__file__).resolve()
SAMPLE_EVERY = 5.0
TRACE_ENV = "SOAK_TRACE_MEMORY"  # a file: the controller writes its allocation growth there
TRACE_FRAMES = 12
TRACE_TOP = 12
WARM_UP = 60.0
HOME, ALICE, BOB = "soak", "soak-alice", "soak-bob"
DOMAIN = {"kuscia.secretflow/domain": "true"}  # the parties' namespaces are designated domains
SELECTOR = "kuscia.secretflow/controller=kusciatask"

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


# --- the controller side: a process that reports on itself ---------------------------


async def _run_controller(kubeconfig: str, metrics_port: int, health_port: int) -> None:
    import anyio

    from reconciler import logs
    from reconciler.controller import Controller
    from reconciler.kube import load_connection
    from reconciler.settings import ServerSettings, Settings

    logs.configure("json", "warning")

    trace_to = os.environ.get(TRACE_ENV)
    if trace_to:
        tracemalloc.start(TRACE_FRAMES)
    started = time.monotonic()
    baseline: tracemalloc.Snapshot | None = None

    async def report() -> None:
        nonlocal baseline
        while True:
            cached = {i.name: len(i.store) for i in controller.caches.all}
            report = {"rss_kib": _rss_kib(), "asyncio_tasks": len(asyncio.all_tasks())}
            print(json.dumps({**report, "cached": cached}))
            sys.stdout.flush()
            if trace_to and time.monotonic() - started >= WARM_UP:
                baseline = _trace_growth(Path(trace_to), baseline)
            await anyio.sleep(SAMPLE_EVERY)

    api = await load_connection(kubeconfig, None)
    settings = Settings(
        server=ServerSettings(
            metrics_address=f"127.0.0.1:{metrics_port}",
            health_address=f"127.0.0.1:{health_port}",
        )
    )
    controller = Controller(api, settings)
    async with api, anyio.create_task_group() as group:
        group.start_soon(report)
        await controller.run(handle_signals=True)
        group.cancel_scope.cancel()


def _trace_growth(out: Path, baseline: tracemalloc.Snapshot | None) -> tracemalloc.Snapshot:
    """Writes to `out` the allocation sites that grew most since `baseline` (the first
    snapshot taken, which it returns), with the calls that led there."""
    now = tracemalloc.take_snapshot()
    if baseline is None:
        return now
    stats = now.compare_to(baseline, "traceback")
    lines = []
    for stat in stats[:TRACE_TOP]:
        lines.append(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks")
        lines.extend(f"      {line}" for line in stat.traceback.format(limit=TRACE_FRAMES))
    out.write_text("\n".join(lines) + "\n")
    return baseline


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- the driver side ------------------------------------------------------------------


@dataclass
class Counts:
    created: int = 0
    completed: int = 0  # pods marked Succeeded
    deleted: int = 0  # tasks deleted after they succeeded
    errors: int = 0
    marked: set[str] = field(default_factory=set)
    deleting: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_kib: int
    asyncio_tasks: int
    live_tasks: int
    counts: tuple[int, int, int]


class Driver:
    def __init__(self, kubeconfig: Path, task_shape: str) -> None:
        self.kubeconfig = kubeconfig
        self.shape = task_shape
        self.counts = Counts()
        self.live_tasks = 0
        self.api: Any = None
        self.kube: Any = None

    async def __aenter__(self) -> Driver:
        from reconciler.kube import Kube, load_connection

        self.api = await load_connection(str(self.kubeconfig), None)
        self.kube = Kube(self.api)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.api.close()

    def task(self, n: int) -> dict[str, Any]:
        if self.shape == "psi":
            task = yaml.safe_load((EXAMPLES / "secretflow-task-psi.yaml").read_text())
            for party, domain in zip(task["spec"]["parties"], (ALICE, BOB), strict=True):
                party["domainID"] = domain
            task["spec"]["initiator"] = ALICE
        else:
            task = {
                "apiVersion": "kuscia.secretflow/v1alpha1",
                "kind": "KusciaTask",
                "spec": {
                    "initiator": ALICE,
                    "parties": [{"domainID": ALICE, "appImageRef": "soak-small"}],
                },
            }
        task["metadata"] = {"name": f"soak-{n:06d}", "namespace": HOME}
        return task

    async def _quietly(self, call: Callable[[], Awaitable[Any]]) -> bool:
        try:
            await call()
        except Exception:  # a 404 for an object already gone, or a busy server: next round
            self.counts.errors += 1
            return False
        return True

    async def create(self, seconds: float, rate: float) -> None:
        started = time.monotonic()
        limiter = asyncio.Semaphore(32)
        pending: set[asyncio.Task[None]] = set()

        async def one(n: int) -> None:
            async with limiter:
                body = self.task(n)
                if await self._quietly(lambda: self.kube.apply(body, field_manager="soak")):
                    self.counts.created += 1

        n = 0
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate)
            while n < due:
                task = asyncio.create_task(one(n))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
            await asyncio.sleep(0.05)
        if pending:
            await asyncio.wait(pending)

    async def complete_and_delete(self, stop: asyncio.Event) -> None:
        """Marks new pods Succeeded and deletes succeeded tasks, as watches report them,
        until `stop` is set and no task is left."""
        from informers.handlers import HandlerFuncs
        from informers.informer import Informer
        from informers.resource import Resource
        from reconciler.kube import KUSCIA_TASK, POD

        limiter = asyncio.Semaphore(32)
        running: set[asyncio.Task[None]] = set()

        def later(call: Callable[[], Awaitable[Any]], counter: str) -> None:
            async def bounded() -> None:
                async with limiter:
                    if await self._quietly(call) and counter:
                        setattr(self.counts, counter, getattr(self.counts, counter) + 1)

            task = asyncio.create_task(bounded())
            running.add(task)
            task.add_done_callback(running.discard)

        def on_pod(pod: dict[str, Any], *_: Any) -> None:
            meta = pod["metadata"]
            phase = (pod.get("status") or {}).get("phase")
            if meta["uid"] in self.counts.marked or phase not in (None, "Pending"):
                return
            self.counts.marked.add(meta["uid"])
            path = POD.path(meta["namespace"], meta["name"]) + "/status"
            body = {"status": {"phase": "Succeeded"}}
            later(
                lambda: self.kube.request(
                    "PATCH", path, body=body, content_type="application/merge-patch+json"
                ),
                "completed",
            )

        def on_task(task: dict[str, Any], *_: Any) -> None:
            name = task["metadata"]["name"]
            if (task.get("status") or {}).get("phase") != "Succeeded":
                return
            if name not in self.counts.deleting:
                self.counts.deleting.add(name)
                later(lambda: self.kube.delete(KUSCIA_TASK, HOME, name), "deleted")

        tasks = Informer(
            self.api,
            Resource("kuscia.secretflow", "v1alpha1", "kusciatasks", namespaced=True),
            namespace=HOME,
            name="soak tasks",
        )
        tasks.add_event_handler(HandlerFuncs(add=on_task, update=lambda _, new, __: on_task(new)))
        informers = [tasks]
        for domain in (ALICE, BOB):
            pods = Informer(
                self.api,
                Resource("", "v1", "pods", namespaced=True),
                namespace=domain,
                label_selector=SELECTOR,
                name=f"soak pods@{domain}",
            )
            pods.add_event_handler(HandlerFuncs(add=on_pod, update=lambda _, new, __: on_pod(new)))
            informers.append(pods)
        async with asyncio.TaskGroup() as group:
            watching = [group.create_task(i.run()) for i in informers]
            while not (stop.is_set() and tasks.has_synced() and len(tasks.store) == 0):
                self.live_tasks = len(tasks.store)
                await asyncio.sleep(0.5)
            self.live_tasks = 0
            for watch in watching:
                watch.cancel()
        if running:
            await asyncio.wait(running)

    async def leftovers(self) -> list[str]:
        from reconciler.kube import CONFIG_MAP, KUSCIA_TASK, NETWORK_POLICY, POD, SERVICE

        found = [
            f"KusciaTask {HOME}/{t['metadata']['name']}"
            for t in (await self.kube.request("GET", KUSCIA_TASK.path(HOME))).get("items", [])
        ]
        for domain in (ALICE, BOB):
            for kind in (POD, SERVICE, CONFIG_MAP, NETWORK_POLICY):
                page = await self.kube.request(
                    "GET", kind.path(domain), query=[("labelSelector", SELECTOR)]
                )
                found += [f"{kind.kind} {domain}/{o['metadata']['name']}" for o in page["items"]]
        return found


def _start_controller(
    plane: ControlPlane, reports: Path, log: Path, trace: Path | None
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if trace is not None:
        env[TRACE_ENV] = str(trace)
    with reports.open("wb") as out, log.open("wb") as err:
        return subprocess.Popen(
            [
                sys.executable,
                str(SCRIPT),
                "_controller",
                str(plane.kubeconfig),
                str(free_port()),
                str(free_port()),
            ],
            stdout=out,
            stderr=err,
            env=env,
        )


def _last_report(reports: Path) -> dict[str, Any] | None:
    lines = reports.read_text().splitlines()
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


async def _soak(args: argparse.Namespace, work: Path) -> None:
    plane = ControlPlane(work / "plane")
    plane.start()
    controller: subprocess.Popen[bytes] | None = None
    try:
        objects: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": HOME}},
            *(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": DOMAIN}}
                for n in (ALICE, BOB)
            ),
        ]
        objects.append(
            SMALL_IMAGE
            if args.task == "small"
            else yaml.safe_load((EXAMPLES / "secretflow-image.yaml").read_text())
        )
        documents = "---\n".join(yaml.safe_dump(o) for o in objects)
        plane.run_kubectl("apply", "--server-side", "-f", "-", stdin=documents)
        reports = work / "controller.jsonl"
        trace = work / "growth.txt" if args.trace_memory else None
        controller = _start_controller(plane, reports, work / "controller.log", trace)
        samples: list[Sample] = []
        async with Driver(plane.kubeconfig, args.task) as driver:
            stop = asyncio.Event()
            started = time.monotonic()
            churn = asyncio.create_task(driver.complete_and_delete(stop))

            async def sample() -> None:
                while True:
                    await asyncio.sleep(SAMPLE_EVERY)
                    last = _last_report(reports)
                    if last is None or controller is None or controller.poll() is not None:
                        continue
                    c = driver.counts
                    samples.append(
                        Sample(
                            time.monotonic() - started,
                            int(last["rss_kib"]),
                            int(last["asyncio_tasks"]),
                            driver.live_tasks,
                            (c.created, c.completed, c.deleted),
                        )
                    )

            sampler = asyncio.create_task(sample())
            await asyncio.sleep(5)  # the controller's caches sync
            await driver.create(args.seconds, args.rate)
            stop.set()
            try:
                await asyncio.wait_for(churn, timeout=args.drain)
            except TimeoutError:
                print(f"the last tasks were not gone {args.drain:.0f}s after the churn stopped")
            await asyncio.sleep(2 * SAMPLE_EVERY)
            sampler.cancel()
            left = await driver.leftovers()
            counts = driver.counts
        alive = controller.poll() is None
        _print(samples, counts, left, alive, args)
        last = _last_report(reports)
        if last is not None:
            print(f"objects in the controller's caches at the end: {last['cached']}")
        if trace is not None and trace.exists():
            print("\nallocation growth in the controller after the first minute (tracemalloc):")
            print(trace.read_text())
    finally:
        if controller is not None and controller.poll() is None:
            controller.terminate()
            controller.wait(timeout=30)
        plane.stop()


def _print(
    samples: list[Sample], counts: Counts, left: list[str], alive: bool, args: argparse.Namespace
) -> None:
    print(f"soak: {args.seconds:.0f} s at {args.rate:g} tasks/s, task shape {args.task!r}")
    print(
        f"{'t (s)':>7} {'created':>8} {'pods done':>10} {'deleted':>8} {'live':>6} "
        f"{'RSS MiB':>8} {'asyncio':>8}"
    )
    step = max(1, int(60 / SAMPLE_EVERY))
    shown = samples[::step] + ([samples[-1]] if samples and len(samples) % step != 1 else [])
    for s in shown:
        print(
            f"{s.seconds:7.0f} {s.counts[0]:8d} {s.counts[1]:10d} {s.counts[2]:8d} "
            f"{s.live_tasks:6d} {s.rss_kib / 1024:8.1f} {s.asyncio_tasks:8d}"
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
    print(
        f"tasks created {counts.created}, deleted after success {counts.deleted}, "
        f"driver errors {counts.errors}, controller alive: {alive}"
    )
    print(f"objects left behind: {len(left)}" + ("".join(f"\n  {x}" for x in left[:20])))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_controller":
        import anyio

        anyio.run(_run_controller, sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
