"""Where our controller's cold start goes: N settled tasks are made in bulk, then a fresh
controller starts over them under py-spy, sampled in two parts: from process start
until its caches are synced (the cold-start figure), and from there until every task
has been reconciled once (the initial enqueue of every task).

Run: `.venv/bin/python -m bench.profile_cold_start [--tasks 2000] [--top 25]`
(py-spy comes with the bench extra; it needs ptrace, which root has).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.kit import bulk
from bench.kit.contestants import Ours
from bench.kit.world import make_world
from bench.profile_ours import _py_spy, summarize
from bench.scenarios import memory


def _stop(spy: subprocess.Popen[bytes]) -> None:
    spy.send_signal(signal.SIGINT)
    spy.wait(timeout=60)


async def profile(tasks: int, workdir: Path, top: int) -> None:
    world = await make_world(workdir, [memory.NAMESPACE])
    try:
        async with world.api(128) as api:
            names = [f"m-bulk-{i:05d}" for i in range(tasks)]
            started = time.monotonic()
            await bulk.make_settled(world, api, memory.NAMESPACE, names)
            made = time.monotonic() - started
            print(f"{tasks:,} settled tasks made in {made:.0f} s", file=sys.stderr)
        ours = Ours(world.plane, workdir / "ours.log")
        try:
            spy = _py_spy(ours.pid, workdir / "sync.txt")
            ours.wait_ready(timeout=900)
            synced_cpu = ours.cpu_seconds()
            _stop(spy)
            spy = _py_spy(ours.pid, workdir / "reconcile.txt")
            while ours.reconciled() < tasks:
                ours.check_alive()
                await asyncio.sleep(0.1)
            reconciled = time.monotonic() - ours.started
            total_cpu = ours.cpu_seconds()
            _stop(spy)
            print(
                f"caches synced {ours.synced_seconds():.2f} s after start "
                f"({synced_cpu:.2f} s of CPU); every task reconciled after {reconciled:.2f} s "
                f"({total_cpu - synced_cpu:.2f} s more CPU, "
                f"{1000 * (total_cpu - synced_cpu) / max(tasks, 1):.2f} ms per task); "
                f"{ours.writes()} writes",
                file=sys.stderr,
            )
        finally:
            ours.stop()
        for part in ("sync", "reconcile"):
            print(f"\n## {part}\n")
            print(summarize((workdir / f"{part}.txt").read_text(), top))
    finally:
        world.plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kuscia-cold-start-"))
    try:
        asyncio.run(profile(args.tasks, workdir, args.top))
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
