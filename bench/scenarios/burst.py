"""Scenario 1, burst: N two-party tasks created at once; time until every task is
settled, for the ceiling, our controller and kopf, one after the other.

Order: ceiling (then cleared away), kopf, ours. Kopf and ours are left running with
their settled tasks for the steady-state scenario; kopf's watch covers only its own
namespace and its objects carry another label, so neither disturbs the other.
"""

from __future__ import annotations

from bench.kit import runs
from bench.kit.apiclient import Api
from bench.kit.contestants import Contestant
from bench.kit.plane import AuditCounter
from bench.kit.report import Table, fmt, percent, ratio, verdict
from bench.kit.world import World

OBJECTS_PER_TASK = 12


async def run(
    world: World, api: Api, audit: AuditCounter, tasks: int
) -> tuple[Table, dict[str, runs.Run], dict[str, Contestant]]:
    results: dict[str, runs.Run] = {}
    running: dict[str, Contestant] = {}
    rss_at_start: dict[str, float] = {}
    for program in ("ceiling", "kopf", "ours"):
        names = runs.task_names(program, "b", tasks)
        warm = runs.task_names(program, "w", 1)
        contestant = await runs.start(world, program, names=warm + names)
        rss_at_start[program] = contestant.memory() / 2**20
        try:
            results[program] = await runs.drive(
                world, api, audit, contestant, names, rate=None, settle_timeout=1800
            )
        except BaseException:
            contestant.stop()
            raise
        if program == "ceiling":
            contestant.stop()
            await runs.clear(world, api, [program])
        else:
            running[program] = contestant
    summary = table(results, tasks)
    summary.figures["rss_mib_at_start"] = rss_at_start
    return summary, results, running


def table(results: dict[str, runs.Run], tasks: int) -> Table:
    ceiling, ours, kopf = results["ceiling"], results["ours"], results["kopf"]
    rate = {
        p: ratio(r.tasks, r.seconds) if r.settled_all else float("nan") for p, r in results.items()
    }
    t = Table(
        f"Burst: {tasks:,} two-party tasks created at once ({OBJECTS_PER_TASK} objects each)",
        [
            "program",
            "all settled (s)",
            "tasks/s",
            "vs ceiling",
            "writes",
            "writes/task",
            "quiet after (s)",
            "its CPU (s)",
            "API server + etcd CPU (s)",
        ],
    )
    for program, r in results.items():
        writes = sum(r.writes.values())
        t.rows.append(
            [
                program,
                fmt(r.seconds) if r.settled_all else f"{len(r.settled)}/{r.tasks} settled",
                fmt(rate[program]),
                percent(ratio(rate[program], rate["ceiling"])),
                f"{writes:,}",
                fmt(ratio(writes, r.tasks)),
                fmt(r.quiet_after),
                fmt(r.cpu_seconds),
                fmt(r.server_cpu_seconds),
            ]
        )
    vs_ceiling = ratio(rate["ours"], rate["ceiling"])
    vs_kopf = ratio(rate["ours"], rate["kopf"])
    t.notes += [
        f"ours / ceiling: {percent(vs_ceiling)} (goal >= 90%: {verdict(vs_ceiling >= 0.9)}); "
        f"ours / kopf: {fmt(vs_kopf, 2)}x (goal >= 5x: {verdict(vs_kopf >= 5)}).",
        "settled: status has ResourceCreated=True, seen by one watch for all three. "
        "Writes are counted by the API server's audit log, per program.",
        "children found after each run: "
        + "; ".join(
            f"{p} " + ", ".join(f"{v:,} {k}" for k, v in r.children.items())
            for p, r in results.items()
        )
        + " (the warm-up task's included).",
        f"ours reconciled {ours.reconciles:,} times for {ours.tasks:,} tasks (goal: once each; "
        "the watch events of what it applied bring no task back).",
    ]
    by_verb = {p: dict(r.writes) for p, r in results.items()}
    t.figures = {
        "tasks": tasks,
        "seconds": {p: r.seconds for p, r in results.items()},
        "tasks_per_second": rate,
        "ours_vs_ceiling": vs_ceiling,
        "ours_vs_kopf": vs_kopf,
        "writes": by_verb,
        "cpu_seconds": {p: r.cpu_seconds for p, r in results.items()},
        "server_cpu_seconds": {p: r.server_cpu_seconds for p, r in results.items()},
        "quiet_after": {p: r.quiet_after for p, r in results.items()},
        "children": {p: r.children for p, r in results.items()},
        "ceiling_sent": ceiling.sent,
        "ours_reconciles": ours.reconciles,
        "ours_settled": len(ours.settled),
        "kopf_settled": len(kopf.settled),
    }
    return t
