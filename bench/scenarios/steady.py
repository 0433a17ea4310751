"""Scenario 4, steady state: with the burst's tasks settled, how many writes and CPU
seconds our controller and kopf spend (a) idle, side by side, (b) through one forced
resync, and (c) through a restart of the process. The goal for ours is 0 writes.

The forced resync compacts etcd and restarts the API server: every watch breaks and
cannot resume (410 Gone), so every cache lists everything again and every task is
reconciled once more, which is what a resync is for. The ceiling has no process
between requests, so it has nothing to report here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.kit import runs
from bench.kit.contestants import Contestant, Ours
from bench.kit.plane import AuditCounter
from bench.kit.report import Table, fmt, verdict
from bench.kit.world import World

MIB = 2**20
PHASES = ("idle", "resync", "restart")


@dataclass
class Figures:
    writes: dict[str, dict[str, int]] = field(default_factory=dict)  # by phase
    cpu: dict[str, float] = field(default_factory=dict)  # by phase
    rss_mib: float = 0.0
    restart_seconds: float = 0.0
    resync_reconciles: int = 0

    def total(self, phase: str) -> int:
        return sum(self.writes.get(phase, {}).values())


async def run(
    world: World, audit: AuditCounter, running: dict[str, Contestant], *, tasks: int, idle: float
) -> tuple[Table, dict[str, Contestant]]:
    """`tasks`: settled tasks each program holds. Returns the table and the processes
    now running (the restarted ones)."""
    ours = running["ours"]
    figures = {program: Figures() for program in running}

    def collect(phase: str, cpu: dict[str, float], processes: dict[str, Contestant]) -> None:
        counts = audit.poll()
        for program, c in processes.items():
            figures[program].writes[phase] = dict(counts.get(c.user, Counter()))
            figures[program].cpu[phase] = c.cpu_seconds() - cpu.get(program, 0.0)

    # (a) idle, side by side
    audit.mark()
    cpu = {p: c.cpu_seconds() for p, c in running.items()}
    await asyncio.sleep(idle)
    for program, c in running.items():
        c.check_alive()
        figures[program].rss_mib = c.memory() / MIB
    collect("idle", cpu, running)

    # (b) one forced resync
    reconciled = _reconciled(ours)
    audit.mark()
    cpu = {p: c.cpu_seconds() for p, c in running.items()}
    started = time.monotonic()
    world.plane.compact_etcd()
    world.plane.restart_apiserver()
    await _wait(lambda: _reconciled(ours) >= reconciled + tasks, "ours to reconcile again", 600)
    await asyncio.sleep(max(0.0, started + 15 - time.monotonic()))  # kopf's watch reconnects
    for c in running.values():
        await runs.wait_quiet(audit, c)
    collect("resync", cpu, running)
    figures["ours"].resync_reconciles = _reconciled(ours) - reconciled

    # (c) a restart, one program at a time
    restarted: dict[str, Contestant] = {}
    for program, old in running.items():
        old.stop()
        audit.mark()
        fresh = await runs.start(world, program)

        def reconciled_all(fresh: Contestant = fresh) -> bool:
            return _reconciled(fresh) >= tasks

        def wrote(fresh: Contestant = fresh) -> bool:
            return audit.writes(fresh.user) > 0

        if isinstance(fresh, Ours):
            await _wait(reconciled_all, "ours to reconcile", 600)
        else:  # kopf says nothing when it is done: wait for its first write, then quiet
            await _wait(wrote, "kopf", 15, optional=True)
        quiet = await runs.wait_quiet(audit, fresh)
        figures[program].restart_seconds = quiet - fresh.started
        collect("restart", {}, {program: fresh})
        restarted[program] = fresh
    return _table(figures, tasks, idle), restarted


def _reconciled(contestant: Contestant) -> int:
    return contestant.reconciled() if isinstance(contestant, Ours) else 0


async def _wait(
    condition: Callable[[], bool], what: str, within: float, *, optional: bool = False
) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            if optional:
                return
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


def _table(figures: dict[str, Figures], tasks: int, idle: float) -> Table:
    t = Table(
        f"Steady state: {tasks:,} settled tasks each; {idle:,.0f} s idle, one forced resync, "
        "one restart",
        [
            "program",
            "idle writes",
            "idle CPU (s)",
            "idle RSS (MiB)",
            "resync writes",
            "resync CPU (s)",
            "restart writes",
            "restart CPU (s)",
            "restart until quiet (s)",
        ],
    )
    for program, f in figures.items():
        t.rows.append(
            [
                program,
                f"{f.total('idle'):,}",
                fmt(f.cpu["idle"], 2),
                fmt(f.rss_mib, 0),
                f"{f.total('resync'):,}",
                fmt(f.cpu["resync"], 1),
                f"{f.total('restart'):,}",
                fmt(f.cpu["restart"], 1),
                fmt(f.restart_seconds, 1),
            ]
        )
    ours = figures["ours"]
    zero = all(ours.total(phase) == 0 for phase in PHASES)
    t.notes += [
        f"ours: 0 writes at steady state (goal): {verdict(zero)}; the resync reconciled "
        f"{ours.resync_reconciles:,} times (goal: once per task; a relisted child whose "
        "version did not change brings no task back).",
        "Both programs idled side by side, each with its own namespace of tasks. Resync: etcd "
        "compacted and the API server restarted, so every watch lists again. Restart: the "
        "process stopped and a fresh one started over the same settled tasks (kopf runs its "
        "on.resume handler for every task; ours finds every object already as wanted).",
    ]
    writes = [
        f"{program} {phase}: " + ", ".join(f"{n:,} {what}" for what, n in f.writes[phase].items())
        for program, f in figures.items()
        for phase in PHASES
        if f.total(phase)
    ]
    if writes:
        t.notes.append("writes: " + "; ".join(writes) + ".")
    t.figures = {
        "tasks": tasks,
        "idle_seconds": idle,
        **{program: dataclasses.asdict(f) for program, f in figures.items()},
    }
    return t
