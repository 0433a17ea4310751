"""One program under test doing one load: start it, warm it up with one task, create
the tasks (all at once or at a rate), time each until settled, wait until it has
gone quiet, and collect its writes (from the audit log) and CPU time.

The ceiling is told of each task the moment its POST is answered; the others learn
of it from their watches, as they would in a cluster.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.kit import load, replay
from bench.kit.apiclient import Api
from bench.kit.contestants import Ceiling, Contestant, Kopf, Ours
from bench.kit.plane import AuditCounter
from bench.kit.world import PARTIES, World
from reconciler.settings import Settings

PROGRAMS = ("ceiling", "ours", "kopf")
CODES = {"ceiling": "ceil", "ours": "ours", "kopf": "kopf"}  # same length: same object sizes
WORKERS = Settings.workers  # our controller's defaults, which the ceiling copies
APPLY_CONCURRENCY = Settings.apply_concurrency  # objects of one task at once
CONNECTIONS = 64  # its connection pool (reconciler.kube.load_connection)
QUIET_SECONDS = 2.0


def namespace_of(program: str) -> str:
    return f"bench-{CODES[program]}"


def task_names(program: str, phase: str, count: int) -> list[str]:
    return [f"{phase}-{CODES[program]}-{i:05d}" for i in range(count)]


def child_selector(program: str) -> str:
    value = "kusciakopf" if program == "kopf" else "kusciatask"
    return f"kuscia.secretflow/controller={value}"


@dataclass
class Run:
    program: str
    tasks: int
    started: float = 0.0
    created: dict[str, float] = field(default_factory=dict)
    settled: dict[str, float] = field(default_factory=dict)
    writes: Counter[str] = field(default_factory=Counter)
    sent: int = 0  # what the ceiling says it sent
    cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0
    quiet_after: float = 0.0  # seconds from the first create until writes stopped
    children: dict[str, int] = field(default_factory=dict)
    schedule_lag: float = 0.0  # trickle: how late the last create started
    reconciles: int = 0  # ours: reconciles it ran for these tasks

    @property
    def settled_all(self) -> bool:
        return len(self.settled) >= self.tasks

    @property
    def seconds(self) -> float:
        """From the first create until the last task was settled."""
        return max(self.settled.values(), default=self.started) - self.started

    def latencies(self) -> list[float]:
        return [self.settled[n] - self.created[n] for n in self.settled if n in self.created]


async def start(
    world: World, program: str, *, names: list[str] | None = None, all_namespaces: bool = False
) -> Contestant:
    """Starts one program; the ceiling needs every task name it will be given, up front."""
    log = world.workdir / "logs" / f"{program}-{time.strftime('%H%M%S')}.log"
    namespace = namespace_of(program)
    contestant: Contestant
    if program == "ours":
        contestant = Ours(world.plane, log, namespace=None if all_namespaces else namespace)
    elif program == "kopf":
        contestant = Kopf(world.plane, log, namespace=namespace)
    else:
        plan = await world.record(names or [], namespace)
        contestant = Ceiling(
            world.plane,
            log,
            plan=world.save_plan(plan, f"{namespace}-{len(plan)}"),
            workers=WORKERS,
            apply_concurrency=APPLY_CONCURRENCY,
            connections=CONNECTIONS,
        )
    contestant.wait_ready()
    return contestant


async def wait_quiet(
    audit: AuditCounter, contestant: Contestant, *, within: float = 600.0
) -> float:
    """Waits until the program has made no write (and, ours, has nothing queued) for
    QUIET_SECONDS; returns the monotonic time of its last observed activity."""
    deadline = time.monotonic() + within
    user = contestant.user
    last = (audit.writes(user), _reconciled(contestant))
    last_change = time.monotonic()
    while time.monotonic() - last_change < QUIET_SECONDS or not _idle(contestant):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{contestant.name} still busy after {within:.0f}s")
        contestant.check_alive()
        await asyncio.sleep(0.25)
        now = (audit.writes(user), _reconciled(contestant))
        if now != last:
            last, last_change = now, time.monotonic()
    return last_change


def _reconciled(contestant: Contestant) -> int:
    return contestant.reconciled() if isinstance(contestant, Ours) else 0


def _idle(contestant: Contestant) -> bool:
    return contestant.metric("workqueue_depth") == 0 if isinstance(contestant, Ours) else True


async def drive(
    world: World,
    api: Api,
    audit: AuditCounter,
    contestant: Contestant,
    names: list[str],
    *,
    rate: float | None,
    settle_timeout: float,
) -> Run:
    """Creates the named tasks (at once, or `rate` per second) in the program's namespace
    and measures them; the program keeps running afterwards."""
    program = contestant.name
    namespace = namespace_of(program)
    observer = load.Observer(api, namespace)
    watching = asyncio.create_task(observer.run())
    try:
        await observer.started()
        await _warm_up(world, api, audit, contestant, observer)
        run = Run(program, len(names))
        bodies = [world.task_body(name, namespace) for name in names]

        def created(name: str, uid: str, when: float) -> None:
            run.created[name] = when
            if isinstance(contestant, Ceiling):
                contestant.feed(name, uid)

        audit.mark()
        reconciled = _reconciled(contestant)
        cpu = None if isinstance(contestant, Ceiling) else contestant.cpu_seconds()
        server_cpu = world.plane.cpu_seconds()
        run.started = time.monotonic()
        if rate is None:
            await load.create_tasks(api, namespace, bodies, concurrency=100, on_created=created)
        else:
            run.schedule_lag = await load.create_at_rate(
                api, namespace, bodies, rate=rate, on_created=created
            )
        await observer.wait_for(names, settle_timeout)
        run.settled = {n: observer.settled_at[n] for n in names if n in observer.settled_at}
        if isinstance(contestant, Ceiling):
            run.sent, run.cpu_seconds = contestant.finish()
            run.quiet_after = time.monotonic() - run.started
        else:
            run.quiet_after = await wait_quiet(audit, contestant) - run.started
            run.cpu_seconds = contestant.cpu_seconds() - (cpu or 0.0)
            run.reconciles = _reconciled(contestant) - reconciled
        run.server_cpu_seconds = world.plane.cpu_seconds() - server_cpu
        run.writes = audit.poll().get(contestant.user, Counter())
        run.children = await _children(api, program)
        return run
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)


async def _warm_up(
    world: World, api: Api, audit: AuditCounter, contestant: Contestant, observer: load.Observer
) -> None:
    """One task first, so connections and caches are warm before the clock starts."""
    program = contestant.name
    (name,) = task_names(program, "w", 1)
    if name in observer.settled_at:
        return

    def created(created_name: str, uid: str, when: float) -> None:
        if isinstance(contestant, Ceiling):
            contestant.feed(created_name, uid)

    body = world.task_body(name, namespace_of(program))
    await load.create_tasks(api, namespace_of(program), [body], concurrency=1, on_created=created)
    if not await observer.wait_for([name], 120):
        raise TimeoutError(f"{program} did not settle its warm-up task")
    if not isinstance(contestant, Ceiling):
        await wait_quiet(audit, contestant)


async def _children(api: Api, program: str) -> dict[str, int]:
    counts = {}
    for kind, path in load.CHILD_PATHS.items():
        counts[kind] = 0
        for ns in PARTIES:
            counts[kind] += await load.count(api, path.format(ns=ns), child_selector(program))
    return counts


async def warm_up_server(world: World, api: Api, namespace: str, tasks: int) -> None:
    """The controller's requests for some tasks, then everything deleted: so the API server
    has served every kind of request once before anything is timed, and the first
    program measured does not pay for its first allocations and lazily built caches."""
    names = [f"warm-{i:05d}" for i in range(tasks)]
    plan = await world.record(names, namespace)
    bodies = [world.task_body(name, namespace) for name in names]
    sends: list[asyncio.Task[int]] = []

    def created(name: str, uid: str, when: float) -> None:
        steps = plan[name].for_uid(uid)
        sends.append(
            asyncio.create_task(replay.send_steps(api, steps, apply_concurrency=APPLY_CONCURRENCY))
        )

    await load.create_tasks(api, namespace, bodies, concurrency=WORKERS, on_created=created)
    await asyncio.gather(*sends)
    await load.clear(api, [namespace], PARTIES, within=300)


async def clear(world: World, api: Api, programs: list[str], *extra_namespaces: str) -> None:
    namespaces = [namespace_of(p) for p in programs] + list(extra_namespaces)
    await load.clear(api, namespaces, PARTIES, within=300)
