"""`make bench`: every scenario against a private local control plane, printed as
markdown tables followed by the raw figures as JSON.

Run: `.venv/bin/python -m bench.run [--json FILE] [--markdown FILE]`; sizes come from
the environment (see bench/kit/sizes.py; BENCH_FULL=1 for the issue's sizes).
Progress goes to stderr. BENCH_KEEP=1 keeps the work directory (logs, audit log).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.kit import runs, sizes
from bench.kit.contestants import Contestant
from bench.kit.plane import AuditCounter
from bench.kit.report import Table, machine
from bench.kit.world import make_world
from bench.scenarios import burst, memory, scheduled, steady, trickle

TASK_NAMESPACES = [*(runs.namespace_of(p) for p in runs.PROGRAMS), memory.NAMESPACE]


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def run_all(chosen: sizes.Sizes, workdir: Path) -> list[Table]:
    tables: list[Table] = []
    bare_burst: dict[str, Any] | None = None
    if set(chosen.scenarios) - {"scheduled"}:
        tables, bare_burst = await _on_the_bare_plane(chosen, workdir)
    if "scheduled" in chosen.scenarios:
        progress(f"scheduled cluster: a burst of {chosen.burst_tasks:,} tasks whose pods run")
        table = await scheduled.run(workdir / "scheduled", chosen.burst_tasks, bare_burst)
        tables.append(_done(table))
    return tables


async def _on_the_bare_plane(
    chosen: sizes.Sizes, workdir: Path
) -> tuple[list[Table], dict[str, Any] | None]:
    """Every scenario but the scheduled cluster's, and the burst's figures if it ran."""
    progress(f"starting a control plane in {workdir}")
    world = await make_world(workdir, TASK_NAMESPACES)
    audit = AuditCounter(world.plane.audit_log)
    tables: list[Table] = []
    running: dict[str, Contestant] = {}
    bare_burst: dict[str, Any] | None = None
    try:
        async with world.api(128) as api:
            progress("warming the API server up")
            await runs.warm_up_server(world, api, memory.NAMESPACE, 100)
            ceiling_rate = 0.0
            kopf_rss: dict[int, float] = {}
            if "burst" in chosen.scenarios or "steady" in chosen.scenarios:
                progress(f"burst: {chosen.burst_tasks:,} tasks for ceiling, kopf, ours")
                table, _, running = await burst.run(world, api, audit, chosen.burst_tasks)
                ceiling_rate = table.figures["tasks_per_second"]["ceiling"]
                kopf_rss[0] = table.figures["rss_mib_at_start"]["kopf"]
                if "burst" in chosen.scenarios:
                    tables.append(_done(table))
                    bare_burst = table.figures
            if "steady" in chosen.scenarios:
                progress(f"steady state: {chosen.idle_seconds:.0f} s idle, resync, restart")
                held = chosen.burst_tasks + 1  # and the warm-up task
                table, running = await steady.run(
                    world, audit, running, tasks=held, idle=chosen.idle_seconds
                )
                kopf_rss[held] = table.figures["kopf"]["rss_mib"]
                tables.append(_done(table))
            for contestant in running.values():
                contestant.stop()
            running = {}
            await runs.clear(world, api, list(runs.PROGRAMS))
            if "trickle" in chosen.scenarios:
                rate, note = _trickle_rate(chosen, ceiling_rate)
                progress(f"trickle: {rate:g} tasks/s for {chosen.trickle_seconds:g} s each")
                tables.append(
                    _done(
                        await trickle.run(
                            world,
                            api,
                            audit,
                            rate=rate,
                            seconds=chosen.trickle_seconds,
                            note=note,
                        )
                    )
                )
            if "memory" in chosen.scenarios:
                progress(f"memory and cold start over {chosen.memory_tasks} settled tasks")
                for table in await memory.run(world, api, audit, chosen.memory_tasks, kopf_rss):
                    tables.append(_done(table))
    finally:
        for contestant in running.values():
            contestant.stop()
        world.plane.stop()
    return tables, bare_burst


def _trickle_rate(chosen: sizes.Sizes, ceiling_rate: float) -> tuple[float, str]:
    asked = chosen.trickle_rate
    if chosen.trickle_rate_given or not ceiling_rate or asked <= ceiling_rate / 2:
        return asked, ""
    rate = max(1.0, round(ceiling_rate / 2))
    return rate, (
        f"rate scaled down from {asked:g}/s: the ceiling's burst throughput on this machine "
        f"is {ceiling_rate:.1f} tasks/s, and a rate above half of it measures a growing "
        "backlog, not latency (BENCH_TRICKLE_RATE forces a rate)."
    )


def _done(table: Table) -> Table:
    progress(f"done: {table.title}")
    print(table.markdown(), file=sys.stderr, flush=True)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    chosen = sizes.from_env()
    workdir = Path(tempfile.mkdtemp(prefix="kuscia-bench-"))
    before = machine()
    started = time.monotonic()
    try:
        tables = asyncio.run(run_all(chosen, workdir))
    finally:
        if os.environ.get("BENCH_KEEP"):
            progress(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    after = machine()
    from devcluster.assets import find_assets
    from devcluster.versions import kubectl_client_version

    figures: dict[str, Any] = {
        "machine": before,
        "load_average_after": after["load_average"],
        "kubernetes": kubectl_client_version(find_assets()["kubectl"]),
        "sizes": chosen.__dict__,
        "minutes": (time.monotonic() - started) / 60,
        "tables": {t.title: t.figures for t in tables},
    }
    header = (
        f"Machine: {before['cores']} cores ({before['cpu']}), {before['memory_gib']} GiB; "
        f"Python {before['python']}; kube-apiserver {figures['kubernetes']}; load average "
        f"{before['load_average'][0]:.1f} before, {after['load_average'][0]:.1f} after; "
        f"{figures['minutes']:.1f} minutes; "
        + ("the issue's sizes (BENCH_FULL=1)." if chosen.full else "make bench's sizes.")
    )
    text = "\n".join([header, "", *(t.markdown() for t in tables)])
    print(text)
    print("```json\n" + json.dumps(figures, indent=2, default=str) + "\n```")
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
