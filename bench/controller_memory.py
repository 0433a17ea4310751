"""How much memory and CPU the controller needs per live task: the figures the
chart's `resources` and its README's sizing rule come from.

Starts a private control plane, creates tasks (the PSI example, two parties, so
each makes 12 objects) in steps, and lets one controller process make their
objects. At each step it prints that process's resident memory (steady), and
starts a fresh controller over the same tasks and prints its peak memory and CPU
seconds until every task is reconciled (a restart, the worst case: the initial
lists of every cache at once). Run: `.venv/bin/python bench/controller_memory.py
[--tasks 0,250,1000]`. Pods have no status here (no kubelet); a kubelet's adds
about 1-2 KiB per pod.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
if not __package__:
    sys.path.insert(0, str(REPO))

from devcluster.cluster import ControlPlane, free_port  # noqa: E402

EXAMPLES = REPO / "tests" / "fixtures" / "examples"
COMMAND = Path(sys.executable).parent / "kuscia-reconciler"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


class Process:
    """One `kuscia-reconciler run` with its probe and metrics ports."""

    def __init__(self, plane: ControlPlane, log: Path) -> None:
        self.metrics, self.health = free_port(), free_port()
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [
                str(COMMAND),
                "run",
                f"--kubeconfig={plane.kubeconfig}",
                f"--metrics-bind-address=127.0.0.1:{self.metrics}",
                f"--health-probe-bind-address=127.0.0.1:{self.health}",
                "--log-level=warning",
            ],
            stdout=self.log,
            stderr=self.log,
        )

    def status(self, field: str) -> int:
        """A /proc/PID/status size field (VmRSS, VmHWM) in bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(field)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def metric(self, name: str) -> float:
        url = f"http://127.0.0.1:{self.metrics}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and not line.startswith("#")
        )

    def ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.health}/readyz"
            with urllib.request.urlopen(url, timeout=5) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _wait(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def _apply(plane: ControlPlane, objects: list[dict[str, Any]]) -> None:
    for start in range(0, len(objects), 200):
        documents = "---\n".join(yaml.safe_dump(o) for o in objects[start : start + 200])
        plane.run_kubectl(
            "apply", "--server-side", "--field-manager=bench", "-f", "-", stdin=documents
        )


def _created(plane: ControlPlane) -> int:
    tasks = json.loads(plane.run_kubectl("get", "kusciatasks", "-A", "-o", "json").stdout)["items"]
    return sum(
        any(
            c.get("type") == "ResourceCreated" and c.get("status") == "True"
            for c in (t.get("status") or {}).get("conditions", [])
        )
        for t in tasks
    )


def _tasks(first: int, last: int) -> list[dict[str, Any]]:
    example = yaml.safe_load((EXAMPLES / "secretflow-task-psi.yaml").read_text())
    made = []
    for i in range(first, last):
        task = json.loads(json.dumps(example))
        task["metadata"] = {"name": f"psi-{i:05d}", "namespace": "cross-domain"}
        # No kubelet or scheduler: the pods are never bound, so the reservation must
        # outlast the measurement or they are removed and made again.
        task["spec"]["scheduleConfig"] = {"resourceReservedSeconds": 86400}
        made.append(task)
    return made


def _settled(process: Process, tasks: int) -> Callable[[], bool]:
    def check() -> bool:
        if process.proc.poll() is not None:
            raise SystemExit(f"the controller exited with {process.proc.returncode}")
        if not process.ready():
            return False
        reconciled = process.metric('controller_runtime_reconcile_total{controller="kusciatask"')
        return process.metric("workqueue_depth") == 0 and reconciled >= tasks

    return check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="0,250,1000", help="comma-separated task counts")
    args = parser.parse_args()
    steps = sorted({int(n) for n in args.tasks.split(",")})
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as work:
        plane = ControlPlane(Path(work) / "plane")
        plane.start()
        try:
            namespaces = [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                for name in ("cross-domain", "alice", "bob")
            ]
            image = yaml.safe_load((EXAMPLES / "secretflow-image.yaml").read_text())
            _apply(plane, [*namespaces, image])
            maker = Process(plane, Path(work) / "maker.log")
            _wait(maker.ready, "the controller to be ready", 60)
            made = 0
            for count in steps:
                _apply(plane, _tasks(made, count))
                made = count
                _wait(lambda n=count: _created(plane) >= n, f"{count} tasks' objects", 1800)
                _wait(_settled(maker, count), "the controller to settle", 600)
                steady = maker.status("VmRSS")
                fresh = Process(plane, Path(work) / f"fresh-{count}.log")
                started = time.monotonic()
                _wait(_settled(fresh, count), "a fresh controller to reconcile every task", 1800)
                elapsed = time.monotonic() - started
                rows.append((count, steady, fresh.status("VmHWM"), fresh.cpu_seconds(), elapsed))
                fresh.stop()
            maker.stop()
        finally:
            plane.stop()
    _print(rows)


def _print(rows: list[tuple[int, int, int, float, float]]) -> None:
    mib = 1024 * 1024
    header = (
        "tasks",
        "objects",
        "steady RSS MiB",
        "restart peak MiB",
        "restart CPU s",
        "restart s",
    )
    lines = [
        (
            f"{n:,}",
            f"{n * 12:,}",
            f"{steady / mib:.0f}",
            f"{peak / mib:.0f}",
            f"{cpu:.1f}",
            f"{elapsed:.1f}",
        )
        for n, steady, peak, cpu, elapsed in rows
    ]
    widths = [max(len(r[i]) for r in (header, *lines)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *lines):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    if len(rows) >= 2 and rows[-1][0] > rows[0][0]:
        (n0, _, p0, _, _), (n1, _, p1, _, _) = rows[0], rows[-1]
        per_task = (p1 - p0) / (n1 - n0)
        print(
            f"\nrestart peak = {p0 / mib:.0f} MiB + {per_task / 1024:.1f} KiB per task "
            f"(fit between {n0:,} and {n1:,} tasks); objects per task: 2 Pods, 6 Services,"
            "\n2 ConfigMaps, 2 NetworkPolicies. Peak includes the initial lists of every cache."
        )


if __name__ == "__main__":
    main()
