"""Scenario 2, trickle: tasks created at a steady rate; latency of each from its
creation (POST answered) to settled (status ResourceCreated=True, seen by the watch),
for the ceiling, our controller and kopf, one after the other."""

from __future__ import annotations

from bench.kit import runs
from bench.kit.apiclient import Api
from bench.kit.plane import AuditCounter
from bench.kit.report import Table, fmt, percentile, ratio, verdict
from bench.kit.world import World


async def run(
    world: World, api: Api, audit: AuditCounter, *, rate: float, seconds: float, note: str
) -> Table:
    tasks = round(rate * seconds)
    results: dict[str, runs.Run] = {}
    for program in runs.PROGRAMS:
        names = runs.task_names(program, "t", tasks)
        warm = runs.task_names(program, "w", 1)
        contestant = await runs.start(world, program, names=warm + names)
        try:
            results[program] = await runs.drive(
                world, api, audit, contestant, names, rate=rate, settle_timeout=seconds + 600
            )
        finally:
            contestant.stop()
        await runs.clear(world, api, [program])
    return _table(results, rate, seconds, note)


def _table(results: dict[str, runs.Run], rate: float, seconds: float, note: str) -> Table:
    ms = {p: sorted(1000 * x for x in r.latencies()) for p, r in results.items()}
    tasks = round(rate * seconds)
    t = Table(
        f"Trickle: {rate:g} tasks/s for {seconds:g} s ({tasks:,} tasks); creation to settled",
        [
            "program",
            "settled",
            "p50 (ms)",
            "p90 (ms)",
            "p99 (ms)",
            "max (ms)",
            "p99 vs ceiling",
            "writes/task",
            "its CPU (s)",
        ],
    )
    for program, r in results.items():
        values = ms[program]
        t.rows.append(
            [
                program,
                f"{len(r.settled):,}/{r.tasks:,}",
                fmt(percentile(values, 50), 0),
                fmt(percentile(values, 90), 0),
                fmt(percentile(values, 99), 0),
                fmt(max(values, default=float("nan")), 0),
                fmt(ratio(percentile(values, 99), percentile(ms["ceiling"], 99)), 2) + "x",
                fmt(ratio(sum(r.writes.values()), r.tasks)),
                fmt(r.cpu_seconds),
            ]
        )
    p99 = ratio(percentile(ms["ours"], 99), percentile(ms["ceiling"], 99))
    lag = max(r.schedule_lag for r in results.values())
    t.notes += [
        f"ours p99 / ceiling p99: {fmt(p99, 2)}x (goal <= 1.5x: {verdict(p99 <= 1.5)}).",
        f"creates kept to schedule within {1000 * lag:.0f} ms.",
    ]
    if note:
        t.notes.append(note)
    t.figures = {
        "rate": rate,
        "seconds": seconds,
        "tasks": tasks,
        "latency_ms": {p: {q: percentile(v, q) for q in (50, 90, 99, 100)} for p, v in ms.items()},
        "ours_p99_vs_ceiling": p99,
        "settled": {p: len(r.settled) for p, r in results.items()},
        "writes": {p: dict(r.writes) for p, r in results.items()},
        "cpu_seconds": {p: r.cpu_seconds for p, r in results.items()},
    }
    return t
