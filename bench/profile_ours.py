"""Where our controller spends its CPU in a burst: py-spy samples the running
`kuscia-reconciler run` while N tasks are created at once, and this prints the
functions with the most samples, on their own (self) and with what they call (total).

Run: `.venv/bin/python -m bench.profile_ours [--tasks 300] [--top 25] [--keep FILE]`
(py-spy comes with the bench extra; it needs ptrace, which root has). Sampling
slows the controller a little; read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.kit import runs
from bench.kit.plane import AuditCounter
from bench.kit.world import make_world

PY_SPY = Path(sys.executable).parent / "py-spy"
OURS = ("reconciler/", "informers/", "builders/")


def summarize(raw: str, top: int) -> str:
    """Collapsed stacks ("frame;frame;... count" per line) to two rankings."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    if not samples:
        return "no samples"
    lines = [f"{samples:,} samples", "", "| self % | function |", "|---|---|"]
    lines += [f"| {100 * n / samples:.1f} | `{f}` |" for f, n in own.most_common(top)]
    lines += ["", "| total % | function (our packages) |", "|---|---|"]
    ours = [(f, n) for f, n in total.most_common() if any(p in f for p in OURS)]
    lines += [f"| {100 * n / samples:.1f} | `{f}` |" for f, n in ours[:top]]
    return "\n".join(lines)


def _py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """Samples `pid` 200 times a second, without stopping it, until sent SIGINT."""
    args = ["record", "--nonblocking", "--format", "raw", "--rate", "200", "-o", str(out)]
    return subprocess.Popen(
        [str(PY_SPY), *args, "-p", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def profile(tasks: int, out: Path) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="kuscia-profile-"))
    world = await make_world(workdir, [runs.namespace_of("ours")])
    audit = AuditCounter(world.plane.audit_log)
    ours = await runs.start(world, "ours")
    spy = None
    try:
        async with world.api(128) as api:
            names = runs.task_names("ours", "b", tasks)
            spy = _py_spy(ours.pid, out)
            run = await runs.drive(world, api, audit, ours, names, rate=None, settle_timeout=900)
            print(
                f"{tasks:,} tasks settled in {run.seconds:.1f} s ({tasks / run.seconds:.1f}/s); "
                f"controller CPU {run.cpu_seconds:.1f} s "
                f"({1000 * run.cpu_seconds / tasks:.1f} ms per task); "
                f"{sum(run.writes.values()):,} writes; "
                f"{run.reconciles:,} reconciles ({run.reconciles / tasks:.2f} per task)",
                file=sys.stderr,
            )
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        ours.stop()
        world.plane.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", type=Path, help="also keep the collapsed stacks here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("note: py-spy needs ptrace rights (root, or CAP_SYS_PTRACE)", file=sys.stderr)
    out = args.keep or Path(tempfile.mkstemp(suffix=".txt")[1])
    asyncio.run(profile(args.tasks, out))
    print(summarize(out.read_text(), args.top))


if __name__ == "__main__":
    main()
