"""`kuscia-reconciler run` reporting on itself, for the soak: the same command and flags
(`python -m bench.kit.probe run --kubeconfig=...`), whose controller also writes, every
few seconds, a JSON line with its count of asyncio tasks and the objects in each cache
to the file named by KUSCIA_PROBE_REPORTS. With KUSCIA_PROBE_TRACE set, tracemalloc
runs too and that file gets the allocation sites that grew since the first minute.

What only the process itself can see is measured here; its memory and CPU time are read
from /proc by the driver (bench/kit/contestants.py), as for every other program.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

import anyio

from reconciler import controller
from reconciler.commands import cli

REPORTS_ENV = "KUSCIA_PROBE_REPORTS"
TRACE_ENV = "KUSCIA_PROBE_TRACE"
REPORT_EVERY = 5.0
TRACE_AFTER = 60.0  # seconds: the baseline snapshot, once start-up allocations are done
TRACE_FRAMES = 12
TRACE_TOP = 12


class ReportingController(controller.Controller):
    """The controller, with one more task beside it: the reports."""

    async def run(self, *, handle_signals: bool = False) -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(self._report)
            await super().run(handle_signals=handle_signals)
            group.cancel_scope.cancel()

    async def _report(self) -> None:
        reports = Path(os.environ[REPORTS_ENV])
        trace = Path(os.environ[TRACE_ENV]) if os.environ.get(TRACE_ENV) else None
        started = time.monotonic()
        baseline: tracemalloc.Snapshot | None = None
        async with await anyio.open_file(reports, "a") as out:
            while True:
                line = {
                    "asyncio_tasks": len(asyncio.all_tasks()),
                    "cached": {i.name: len(i.store) for i in self.caches.all},
                }
                await out.write(json.dumps(line) + "\n")
                await out.flush()
                if trace is not None and time.monotonic() - started >= TRACE_AFTER:
                    baseline = _write_growth(trace, baseline)
                await anyio.sleep(REPORT_EVERY)


def _write_growth(out: Path, baseline: tracemalloc.Snapshot | None) -> tracemalloc.Snapshot:
    """Writes to `out` the allocation sites that grew most since `baseline` (the first
    snapshot taken, which it returns), with the calls that led there."""
    now = tracemalloc.take_snapshot()
    if baseline is None:
        return now
    lines = []
    for stat in now.compare_to(baseline, "traceback")[:TRACE_TOP]:
        lines.append(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks")
        lines.extend(f"      {line}" for line in stat.traceback.format(limit=TRACE_FRAMES))
    out.write_text("\n".join(lines) + "\n")
    return baseline


def main() -> int:
    if os.environ.get(TRACE_ENV):
        tracemalloc.start(TRACE_FRAMES)
    # The command line builds its Controller when it runs: this one, with the reports.
    controller.Controller = ReportingController  # type: ignore[misc]
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
